package cli

import (
	"strings"

	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// usageTemplate lays help out as docker does: usage line first, then the
// description, aliases, options and subcommands.
const usageTemplate = `Usage:  {{if .HasAvailableSubCommands}}{{.CommandPath}} COMMAND{{else}}{{.UseLine}}{{end}}

{{if .Long}}{{.Long}}{{else}}{{.Short}}{{end}}
{{- if index .Annotations "aliases"}}

Aliases:
  {{index .Annotations "aliases"}}
{{- end}}
{{- if .HasAvailableLocalFlags}}

Options:
{{wrappedFlagUsages . | trimRightSpace}}
{{- end}}
{{- if .HasAvailableSubCommands}}

Commands:
{{- range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}
{{- end}}{{end}}

Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{- end}}
`

// aliasGroups lists, per command, every path it answers to (docker's
// "Aliases:" line).
var aliasGroups = [][]string{
	{"container run", "run"},
	{"container create", "create"},
	{"container start", "start"},
	{"container stop", "stop"},
	{"container restart", "restart"},
	{"container kill", "kill"},
	{"container wait", "wait"},
	{"container rm", "container remove", "rm"},
	{"container ls", "container list", "container ps", "ps"},
	{"container logs", "logs"},
	{"container attach", "attach"},
	{"container exec", "exec"},
	{"container rename", "rename"},
	{"image ls", "image list", "images"},
	{"image rm", "image remove", "rmi"},
	{"image import", "import"},
	{"image tag", "tag"},
	{"image history", "history"},
}

func setupHelp(root *cobra.Command) {
	cobra.AddTemplateFunc("wrappedFlagUsages", func(cmd *cobra.Command) string {
		width := 80
		if fd, isTerm := term.GetFdInfo(cmd.OutOrStdout()); isTerm {
			if ws, err := term.GetWinsize(fd); err == nil && ws.Width > 0 {
				width = int(ws.Width)
			}
		}
		return cmd.LocalFlags().FlagUsagesWrapped(width - 1)
	})
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate("{{.UsageString}}")
	for _, group := range aliasGroups {
		var paths []string
		for _, p := range group {
			paths = append(paths, root.Name()+" "+p)
		}
		line := strings.Join(paths, ", ")
		for _, p := range group {
			if cmd, rest, err := root.Find(strings.Fields(p)); err == nil && len(rest) == 0 && cmd != root {
				if cmd.Annotations == nil {
					cmd.Annotations = map[string]string{}
				}
				cmd.Annotations["aliases"] = line
			}
		}
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		// docker lists no -h/--help, except run and create's own --help.
		cmd.InitDefaultHelpFlag()
		if f := cmd.Flags().Lookup("help"); f != nil && f.Usage != "Print usage" {
			f.Hidden = true
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
