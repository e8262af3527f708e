package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table is how a list verb prints its rows: as JSON with --json, else one
// line saying there is nothing to list, or a tab-aligned table.
type table[T any] struct {
	empty  string                // printed when there are no items, e.g. "no users"
	header []string              // column names
	row    func(item T) []string // one row's cells, in header order
}

// print writes items to w in the form the flags chose. A nil slice prints
// as [] in JSON, so scripts always get an array.
func (t table[T]) print(w io.Writer, items []T, asJSON bool) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(w, items)
	}
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, t.empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(t.row(it), "\t"))
	}
	return tw.Flush()
}
