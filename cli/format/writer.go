package format

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Well-known --format values.
const (
	TableKey = "table"
	JSONKey  = "json"
	JSONFmt  = "{{json .}}"
	QuietFmt = "{{.ID}}"
)

// Row is one object to render; Header maps the row's field names to their
// column titles ("ID" -> "CONTAINER ID").
type Row interface {
	Header() map[string]string
}

// Write renders rows with format: "table ..." gets a header line and
// aligned columns, "json" one JSON object per line, anything else is a
// template executed once per row.
func Write(out io.Writer, format string, rows []Row, emptyHeader map[string]string) error {
	isTable := strings.HasPrefix(format, TableKey)
	final := format
	switch {
	case isTable:
		final = final[len(TableKey):]
	case format == JSONKey:
		final = JSONFmt
	}
	final = strings.Trim(final, " ")
	final = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(final)

	tmpl, err := template.New("").Funcs(Funcs).Parse(final)
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	var body bytes.Buffer
	for _, r := range rows {
		if err := tmpl.Execute(&body, r); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		body.WriteString("\n")
	}
	if !isTable {
		_, err := body.WriteTo(out)
		return err
	}
	header := emptyHeader
	if len(rows) > 0 {
		header = rows[0].Header()
	}
	tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	if htmpl, err := template.New("").Funcs(headerFuncs).Parse(final); err == nil {
		var hb bytes.Buffer
		if htmpl.Execute(&hb, header) == nil {
			_, _ = hb.WriteTo(tw)
		}
	}
	_, _ = tw.Write([]byte("\n"))
	_, _ = body.WriteTo(tw)
	return tw.Flush()
}
