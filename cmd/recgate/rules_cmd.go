package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
	"github.com/recgate/recgate/store"
)

func newRulesCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "rules", Short: "Import and export the rules as YAML"})
	cmd.AddCommand(newRulesImportCmd(a), newRulesExportCmd(a))
	return cmd
}

func newRulesImportCmd(a *app) *cobra.Command {
	var dryRun, prune bool
	var tenant string
	var w ruleWriter
	cmd := &cobra.Command{
		Use:   "import FILE [--tenant ID] [--dry-run] [--prune]",
		Short: "Validate a rules file and replace the rules with it in one transaction",
		Long: "Validates the whole file first (unknown keys, bad modes, directions, kinds, unknown\n" +
			"groups or profiles are errors naming the line), then applies it in one transaction,\n" +
			"or applies nothing. The running server uses the new rules from its next call.\n" +
			"An import that would delete stations, groups or tenants the file leaves out is\n" +
			"refused (exit 4) unless --prune is given; --dry-run shows the same and exits the same way.",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(a.env.Stdin, args[0])
			if err != nil {
				return err
			}
			name := args[0]
			if name == "-" {
				name = "stdin"
			}
			// A dry run writes nothing, so rules_file does not refuse it:
			// it is how the next version of that file is checked.
			open := a.openWriter
			if dryRun {
				open = func(cmd *cobra.Command, _ *ruleWriter) (*store.Store, error) { return a.openStore(cmd) }
			}
			st, err := open(cmd, &w)
			if err != nil {
				return err
			}
			defer st.Close()
			// The check runs inside the import's transaction, on the rules
			// it replaces: a station added meanwhile is not lost silently.
			check := func(cur, next *rules.RuleSet) error { return checkPrune(cur, next, name, prune) }
			changes, err := importFile(cmd.Context(), st, bytes.NewReader(data), name, w.actor, tenant, dryRun, check)
			if dryRun && (err == nil || changes != nil) {
				printChanges(a.env.Stdout, changes, true)
			}
			if err != nil {
				return err
			}
			if !dryRun {
				printChanges(a.env.Stdout, changes, false)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show the changes without writing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete the stations, groups and tenants the file leaves out")
	cmd.Flags().StringVar(&tenant, "tenant", "", "replace this tenant's rules only (docs/tenants.md)")
	w.register(cmd)
	return cmd
}

// checkPrune refuses an import of next over cur that would delete stations
// or groups, unless prune: a file caught half written, or "stations: {}",
// must not wipe the rules with nothing but a dry run to warn.
func checkPrune(cur, next *rules.RuleSet, name string, prune bool) error {
	if prune {
		return nil
	}
	var stations, groups, tenants []string
	for _, id := range cur.StationIDs() {
		if _, ok := next.Stations[id]; !ok {
			stations = append(stations, id)
		}
	}
	for _, tid := range cur.TenantIDs() {
		if next.Tenants[tid] == nil {
			tenants = append(tenants, tid)
		}
		for _, g := range cur.GroupNames(tid) {
			if next.Group(tid, g) == nil {
				if tid != rules.DefaultTenant {
					g = tid + "/" + g
				}
				groups = append(groups, g)
			}
		}
	}
	var what []string
	for _, d := range []struct {
		names []string
		kind  string
	}{{stations, "station(s)"}, {groups, "group(s)"}, {tenants, "tenant(s)"}} {
		if len(d.names) > 0 {
			what = append(what, fmt.Sprintf("%d %s (%s)", len(d.names), d.kind, abbreviate(d.names, 10)))
		}
	}
	if len(what) == 0 {
		return nil
	}
	return rules.Errorf(rules.ECONFLICT, "importing %s would delete %s that it leaves out; nothing written: add them to the file, or pass --prune to delete them",
		name, strings.Join(what, " and "))
}

// abbreviate lists the first n of names, then how many more.
func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

func newRulesExportCmd(a *app) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "export [FILE] [--tenant ID]",
		Short: "Write the rules as YAML to FILE, or to stdout",
		Args:  maxArgs(1, "[FILE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := a.loadRules(cmd)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := writeRules(&b, rs, tenant); err != nil {
				return err
			}
			if len(args) == 0 || args[0] == "-" {
				_, err = a.env.Stdout.Write(b.Bytes())
				return err
			}
			return rulesfile.WriteFile(args[0], b.Bytes())
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "write this tenant's file only")
	return cmd
}

func printChanges(w io.Writer, changes []store.Change, dryRun bool) {
	verb := "applied"
	if dryRun {
		verb = "would apply (dry run, nothing written)"
	}
	if len(changes) == 0 {
		fmt.Fprintf(w, "no changes\n")
		return
	}
	fmt.Fprintf(w, "%s %d change(s):\n", verb, len(changes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range changes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t->\t%s\n", c.Object, c.Field, orDash(c.Before), orDash(c.After))
	}
	tw.Flush()
}

// orDash is s as a table cell: "-" when empty, escaped (rules.Printable)
// when it holds a control character, so that a value stored before
// validation existed cannot drive the terminal or break the columns.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return rules.Printable(s)
}

// openStore opens the existing store named by the configuration. It never
// creates one: a verb run against the wrong configuration must say so, not
// quietly answer from (or write to) a new empty database.
func (a *app) openStore(cmd *cobra.Command) (*store.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	if _, err := checkStorePath(cfg.Store.Path, false); err != nil {
		return nil, fmt.Errorf("%w; configuration %s", err, a.configPath)
	}
	return store.Open(cmd.Context(), cfg.Store.Path, cfg.storeOptions()...)
}

// readInput reads FILE, or stdin when FILE is "-".
func readInput(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, rules.Errorf(rules.EINVALID, "read %s: %v", name, err)
	}
	return data, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
