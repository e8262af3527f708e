package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	var dryRun bool
	var actor string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Validate a rules file and replace the rules with it in one transaction",
		Long: "Validates the whole file first (unknown keys, bad modes, directions, kinds, unknown\n" +
			"groups or profiles are errors naming the line), then applies it in one transaction,\n" +
			"or applies nothing. The running server uses the new rules from its next call.",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(a.env.Stdin, args[0])
			if err != nil {
				return err
			}
			rs, err := rulesfile.Parse(bytes.NewReader(data), args[0])
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			var changes []store.Change
			if dryRun {
				cur, err := st.LoadRules(cmd.Context())
				if err != nil {
					return err
				}
				changes = store.Diff(cur, rs)
			} else if changes, err = st.ReplaceRules(cmd.Context(), actor, rs); err != nil {
				return err
			}
			printChanges(a.env.Stdout, changes, dryRun)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show the changes without writing")
	cmd.Flags().StringVar(&actor, "actor", defaultActor(), "who makes the change (audit log)")
	return cmd
}

func newRulesExportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "export [FILE]",
		Short: "Write the rules as YAML to FILE, or to stdout",
		Args:  maxArgs(1, "[FILE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := a.loadRules(cmd)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := rulesfile.Write(&b, rs); err != nil {
				return err
			}
			if len(args) == 0 || args[0] == "-" {
				_, err = a.env.Stdout.Write(b.Bytes())
				return err
			}
			return rulesfile.WriteFile(args[0], b.Bytes())
		},
	}
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// openStore opens the store named by the configuration.
func (a *app) openStore(cmd *cobra.Command) (*store.Store, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
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
