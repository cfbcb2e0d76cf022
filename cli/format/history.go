package format

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/image"
)

// HistoryTable is the default `history` format.
const HistoryTable = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

// HistoryHeader names the history columns.
var HistoryHeader = map[string]string{
	"ID":           "IMAGE",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"CreatedBy":    "CREATED BY",
	"Size":         "SIZE",
	"Comment":      "COMMENT",
}

// History is one `history` row.
type History struct {
	H     image.HistoryResponseItem
	Trunc bool
	Human bool
}

// Header implements Row.
func (h History) Header() map[string]string { return HistoryHeader }

// ID is the layer's image ID or <missing>.
func (h History) ID() string {
	if h.Trunc && h.H.ID != "<missing>" {
		return TruncateID(h.H.ID)
	}
	return h.H.ID
}

// CreatedSince is relative time when human, else RFC 3339.
func (h History) CreatedSince() string {
	if !h.Human {
		return h.CreatedAt()
	}
	return Since(time.Unix(h.H.Created, 0))
}

// CreatedAt is the creation time in RFC 3339.
func (h History) CreatedAt() string {
	return time.Unix(h.H.Created, 0).Format(time.RFC3339)
}

// CreatedBy is the command that made the layer, cut to 45 characters.
func (h History) CreatedBy() string {
	c := strings.ReplaceAll(h.H.CreatedBy, "\t", " ")
	if h.Trunc {
		c = Ellipsis(c, 45)
	}
	return c
}

// Size is the layer size, human readable unless --human=false.
func (h History) Size() string {
	if h.Human {
		return Size(h.H.Size)
	}
	return strconv.FormatInt(h.H.Size, 10)
}

// Comment is the layer's comment.
func (h History) Comment() string { return h.H.Comment }

// MarshalJSON gives `--format json` every column.
func (h History) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Comment":      h.Comment(),
		"CreatedAt":    h.CreatedAt(),
		"CreatedBy":    h.CreatedBy(),
		"CreatedSince": h.CreatedSince(),
		"ID":           h.ID(),
		"Size":         h.Size(),
	})
}
