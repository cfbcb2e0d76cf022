// Package format renders CLI output the way the docker CLI does: `table`
// formats through a tab writer with a header row built from column names,
// Go templates with docker's template functions (json, join, split, upper,
// lower, title, pad, truncate), and the per-object row contexts for
// containers, images and image history, with docker's truncation, human
// durations ("About a minute ago") and sizes ("1.23MB").
package format
