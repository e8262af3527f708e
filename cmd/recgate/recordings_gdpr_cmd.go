package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
	"github.com/recgate/recgate/web"
)

// The GDPR (RODO) tools of SPEC 10 on the command line: the same
// implementation as the API and the panel (web.FindSubject,
// web.ExportSubject, web.EraseSubject), with the OS user (or --actor) in
// the access and audit logs and "cli" as the address.

func newRecordingsGDPRCmds(a *app) []*cobra.Command {
	return []*cobra.Command{newRecordingsSearchCmd(a), newRecordingsExportCmd(a), newRecordingsEraseCmd(a),
		newRecordingsHoldCmd(a, true), newRecordingsHoldCmd(a, false)}
}

// cliAddress is the access log's address for what the CLI does.
const cliAddress = "cli"

func recordingsTenantFlag(cmd *cobra.Command, tenant *string) {
	cmd.Flags().StringVar(tenant, "tenant", rules.DefaultTenant, "the tenant whose recordings")
}

// subject opens the store and finds the data subject number in tenant.
func (a *app) subject(cmd *cobra.Command, tenant, number string) (*store.Store, *web.Subject, error) {
	if err := store.ValidateSubjectNumber(number); err != nil {
		return nil, nil, err
	}
	st, err := a.openStore(cmd)
	if err != nil {
		return nil, nil, err
	}
	sub, err := web.FindSubject(cmd.Context(), st, tenant, number, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, sub, nil
}

func newRecordingsSearchCmd(a *app) *cobra.Command {
	var tenant string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "search NUMBER [--tenant T] [--json]",
		Short: "Data-subject search: the recordings whose caller or number called is NUMBER (any spelling)",
		Args:  exactArgs(1, "NUMBER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, sub, err := a.subject(cmd, tenant, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			if asJSON {
				type found struct {
					rules.Recording
					LegalHold *store.LegalHold `json:"legal_hold,omitempty"`
				}
				out := struct {
					Recordings []found            `json:"recordings"`
					Erasures   []store.AuditEntry `json:"erasures"`
				}{Recordings: []found{}, Erasures: append([]store.AuditEntry{}, sub.Erasures...)}
				for _, r := range sub.Recordings {
					f := found{Recording: r}
					if h, ok := sub.Holds[r.ID]; ok {
						f.LegalHold = &h
					}
					out.Recordings = append(out.Recordings, f)
				}
				return printJSON(a.env.Stdout, out)
			}
			printSubject(a.env.Stdout, sub)
			return nil
		},
	}
	recordingsTenantFlag(cmd, &tenant)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printSubject(w io.Writer, sub *web.Subject) {
	if len(sub.Recordings) == 0 {
		fmt.Fprintln(w, "no recordings of this number")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTARTED\tSTATION\tDIRECTION\tCALLER\tCALLED\tSTATE\tHOLD")
		for _, r := range sub.Recordings {
			started := r.StartedAt
			if started == nil {
				started = r.ArmedAt
			}
			hold := "-"
			if h, ok := sub.Holds[r.ID]; ok {
				hold = "held by " + shown(h.Actor)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, fmtTime(started), shown(r.Station), orDash(string(r.Direction)),
				shown(r.CallerID), shown(r.DID), r.State, hold)
		}
		tw.Flush()
	}
	for _, e := range sub.Erasures {
		at := e.At
		fmt.Fprintf(w, "erased before: %s by %s: %s\n", fmtTime(&at), shown(e.Actor), e.After)
	}
}

func newRecordingsExportCmd(a *app) *cobra.Command {
	var tenant, output, actor string
	cmd := &cobra.Command{
		Use:   "export NUMBER --output FILE.zip [--tenant T]",
		Short: "Export a data subject's recordings as one zip archive (audio and metadata.json); logged as exports",
		Args:  exactArgs(1, "NUMBER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return &usageError{fmt.Errorf("recordings export needs --output FILE.zip (or - for standard output)")}
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			st, sub, err := a.subject(cmd, tenant, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			w := a.env.Stdout
			var f *os.File
			if output != "-" {
				// Written next to the target and renamed into place: a
				// failed export leaves no half archive under its name.
				if f, err = os.CreateTemp(filepath.Dir(output), ".recgate-export-*"); err != nil {
					return rules.Errorf(rules.EINVALID, "--output %s: %v", output, err)
				}
				defer os.Remove(f.Name())
				defer f.Close()
				w = f
			}
			by := store.Removal{Tenant: tenant, Actor: actor, Address: cliAddress}
			if err := web.ExportSubject(cmd.Context(), w, st, cfg.Recording.Dir, by, sub); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if f != nil {
				if err := f.Close(); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				if err := os.Rename(f.Name(), output); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				fmt.Fprintf(a.env.Stderr, "exported %d recording(s) to %s\n", len(sub.Recordings), output)
			}
			return nil
		},
	}
	recordingsTenantFlag(cmd, &tenant)
	cmd.Flags().StringVarP(&output, "output", "o", "", "the archive to write (- for standard output)")
	actorFlag(cmd, &actor)
	return cmd
}

func newRecordingsEraseCmd(a *app) *cobra.Command {
	var tenant, actor string
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "erase NUMBER --yes [--tenant T]",
		Short: "Erase a data subject's recordings (files and metadata), except those under legal hold",
		Long: "Deletes the audio files and then the metadata of every recording whose caller or number\n" +
			"called is NUMBER, except recordings under legal hold. Each erase is in the access log; the\n" +
			"audit log keeps a keyed hash of the number (never the number) as proof. A recording whose\n" +
			"file cannot be removed keeps its metadata and is reported: run erase again.",
		Args: exactArgs(1, "NUMBER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return &usageError{fmt.Errorf("recordings erase cannot be undone: run it with --yes (see recordings search %s first)", args[0])}
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			st, sub, err := a.subject(cmd, tenant, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := web.EraseSubject(cmd.Context(), st, cfg.Recording.Dir, store.Removal{Tenant: tenant, Actor: actor, Address: cliAddress}, args[0], sub)
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(a.env.Stdout, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.env.Stdout, "erased %d recording(s); kept %d under legal hold; proof in the audit log: %s\n",
					len(res.Erased), len(res.Held), res.Proof)
				if len(res.Live) > 0 {
					fmt.Fprintf(a.env.Stdout, "kept %d recording(s) of calls still in progress: run erase again after they end\n", len(res.Live))
				}
				for id, why := range res.Failed {
					fmt.Fprintf(a.env.Stdout, "recording %d: NOT erased: %s\n", id, why)
				}
			}
			if n := len(res.Failed) + len(res.Live); n > 0 {
				return rules.Errorf(rules.ECONFLICT, "erase: %d recording(s) not erased (see above); run erase again", n)
			}
			return nil
		},
	}
	recordingsTenantFlag(cmd, &tenant)
	cmd.Flags().BoolVar(&yes, "yes", false, "yes, erase them for good")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	actorFlag(cmd, &actor)
	return cmd
}

func newRecordingsHoldCmd(a *app, hold bool) *cobra.Command {
	var actor, reason string
	use, short := "release ID", "Release a recording's legal hold"
	if hold {
		use, short = "hold ID [--reason TEXT]", "Put a recording under legal hold: retention, delete and erase skip it until released"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return rules.Errorf(rules.EINVALID, "recording id %q: a number (see recgate recordings list)", args[0])
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if hold {
				err = st.HoldRecording(cmd.Context(), actor, id, reason)
			} else {
				err = st.ReleaseRecording(cmd.Context(), actor, id)
			}
			if err != nil {
				return err
			}
			verb := "released"
			if hold {
				verb = "held"
			}
			fmt.Fprintf(a.env.Stdout, "recording %d %s\n", id, verb)
			return nil
		},
	}
	if hold {
		cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit log (a case number, say)")
	}
	actorFlag(cmd, &actor)
	return cmd
}
