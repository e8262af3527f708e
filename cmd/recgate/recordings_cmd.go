package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/gate"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

func newRecordingsCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "recordings", Short: "What was recorded, when, why, and where the file is"})
	cmd.AddCommand(newRecordingsListCmd(a), newRecordingsShowCmd(a))
	cmd.AddCommand(newRecordingsGDPRCmds(a)...) // recordings_gdpr_cmd.go
	return cmd
}

func newRecordingsListCmd(a *app) *cobra.Command {
	var station, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--station S] [--since T] [--json]",
		Short: "List recordings and armed on-demand calls, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			f := store.RecordingFilter{Station: station, Since: t, Limit: limit}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			recs, err := st.Recordings(cmd.Context(), f)
			if err != nil {
				return err
			}
			if recs == nil {
				recs = []rules.Recording{}
			}
			if asJSON {
				return printJSON(a.env.Stdout, recs)
			}
			printRecordings(a.env.Stdout, recs)
			return nil
		},
	}
	cmd.Flags().StringVar(&station, "station", "", "only this station's recordings")
	sinceFlag(cmd, &since)
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRecordingsShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one recording's metadata",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return rules.Errorf(rules.EINVALID, "recording id %q: a number (see recgate recordings list)", args[0])
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := st.Recording(cmd.Context(), id)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.env.Stdout, r)
			}
			printRecording(a.env.Stdout, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRecordings(w io.Writer, recs []rules.Recording) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no recordings")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tSTATION\tDIRECTION\tMODE\tTRIGGER\tRULE\tSTATE\tANSWERED\tENDED\tFILE")
	for _, r := range recs {
		started := r.StartedAt
		if started == nil {
			started = r.ArmedAt
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, fmtTime(started), orDash(r.Station), orDash(string(r.Direction)),
			orDash(string(r.Mode)), orDash(string(r.Trigger)), orDash(r.Rule), orDash(string(r.State)), triState(r.Answered), fmtTime(r.EndedAt), orDash(r.File))
	}
	tw.Flush()
}

// shown is v as printed on a terminal: "-" when empty, and quoted, its
// escapes visible, when it holds a character that is not printable (caller
// ids and dialplan arguments come from outside: a tab would break the
// table, an escape sequence would drive the terminal).
func shown(v string) string {
	if v == "" {
		return "-"
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return strconv.Quote(v)
		}
	}
	return v
}

func printRecording(w io.Writer, r *rules.Recording) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, shown(v)) }
	row("id", strconv.FormatInt(r.ID, 10))
	row("uniqueid", r.UniqueID)
	row("linkedid", r.LinkedID)
	row("station", r.Station)
	row("direction", string(r.Direction))
	row("mode", string(r.Mode))
	row("trigger", orDash(string(r.Trigger)))
	row("rule", r.Rule)
	row("state", string(r.State))
	row("file", r.File)
	row("caller id", r.CallerID)
	row("did", r.DID)
	row("queue", r.Queue)
	row("armed at", fmtTime(r.ArmedAt))
	row("started at", fmtTime(r.StartedAt))
	row("pressed at", fmtTime(r.PressedAt))
	row("ended at", fmtTime(r.EndedAt))
	row("answered", triState(r.Answered))
	row("deleted at", fmtTime(r.DeletedAt))
	tw.Flush()
}

func sinceFlag(cmd *cobra.Command, since *string) {
	cmd.Flags().StringVar(since, "since", "", "only since T: 2026-11-24, 2026-11-24T10:00:00Z, or a duration ago like 24h or 7d")
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// parseSince accepts an RFC 3339 time, a date (local midnight), or a
// duration before now ("24h", "90m", "7d"); "" is the zero time (no bound).
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, rules.Errorf(rules.EINVALID, "--since %q: use 2026-11-24, 2026-11-24T10:00:00Z, or a duration like 24h or 7d", s)
}

func newAuditCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "audit", Short: "Who changed which rule when, before and after"})
	var since string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--since T] [--json]",
		Short: "List the audit log, oldest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			entries, err := st.Audit(cmd.Context(), t)
			if err != nil {
				return err
			}
			return table[store.AuditEntry]{
				empty:  "no audit entries",
				header: []string{"ID", "WHEN", "ACTOR", "OBJECT", "FIELD", "BEFORE", "AFTER"},
				row: func(e store.AuditEntry) []string {
					at := e.At
					return []string{strconv.FormatInt(e.ID, 10), fmtTime(&at), orDash(e.Actor), orDash(e.Object), orDash(e.Field), orDash(e.Before), orDash(e.After)}
				},
			}.print(a.env.Stdout, entries, asJSON)
		},
	}
	sinceFlag(list, &since)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}

func newRetentionCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "retention", Short: "Delete recordings past their retention"})
	var dryRun bool
	var actor string
	run := &cobra.Command{
		Use:   "run [--dry-run]",
		Short: "Delete recordings older than their station's, group's or tenant's retention_days: files and metadata",
		Long: "Finds recordings past the retention_days of their station (else its group, else its tenant),\n" +
			"deletes their files (only inside recording.dir, never following a path out of it)\n" +
			"and marks their metadata deleted; every deletion is in the audit log.\n" +
			"A missing file is reported and the metadata still marked. Run it daily (cron or a systemd timer).",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if err := rules.ValidateText("--actor", actor); err != nil {
				return err
			}
			files, err := gate.NewFileNamer(cfg.Recording.Dir, cfg.Recording.FileTemplate)
			if err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			st, err := a.openStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			return runRetention(cmd, a.env.Stdout, st, files, actor, dryRun, time.Now())
		},
	}
	run.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	actorFlag(run, &actor)
	cmd.AddCommand(run)
	return cmd
}

func runRetention(cmd *cobra.Command, w io.Writer, st *store.Store, files *gate.FileNamer, actor string, dryRun bool, now time.Time) error {
	ctx := cmd.Context()
	rs, err := st.LoadRules(ctx)
	if err != nil {
		return err
	}
	recs, err := st.Recordings(ctx, store.RecordingFilter{})
	if err != nil {
		return err
	}
	holds, err := st.LegalHolds(ctx)
	if err != nil {
		return err
	}
	var ids []int64
	var changes []store.Change
	var skipped, due int
	var missing []*rules.Recording
	mark := func(r *rules.Recording, note string) {
		days, _ := rs.Retention(r)
		ids = append(ids, r.ID)
		changes = append(changes, store.Change{Object: fmt.Sprintf("recording:%d", r.ID), Field: "retention",
			Before: orDash(r.File), After: fmt.Sprintf("%s (retention %dd)", note, days)})
		fmt.Fprintf(w, "deleted recording %d (station %s, retention %dd) %s\n", r.ID, orDash(r.Station), days, orDash(r.File))
	}
	for i := range recs {
		r := &recs[i]
		if !rs.Expired(r, now) {
			continue
		}
		if _, held := holds[r.ID]; held {
			fmt.Fprintf(w, "recording %d: under legal hold, kept (recgate recordings release %d ends the hold)\n", r.ID, r.ID)
			continue
		}
		days, _ := rs.Retention(r)
		if dryRun {
			if r.File != "" && r.State != rules.StateRemoved {
				if err := files.CheckRemovable(r.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
					skipped++
					fmt.Fprintf(w, "recording %d: would NOT be deleted: %v\n", r.ID, err)
					continue
				}
			}
			due++
			fmt.Fprintf(w, "would delete recording %d (station %s, %s, retention %dd) %s\n", r.ID, orDash(r.Station), fmtTime(r.EndedAt), days, orDash(r.File))
			continue
		}
		if r.File != "" && r.State != rules.StateRemoved {
			err := files.Remove(r.File)
			switch {
			case err == nil:
			case errors.Is(err, fs.ErrNotExist):
				missing = append(missing, r) // looked at again below, before its row is marked
				continue
			default:
				skipped++
				fmt.Fprintf(w, "recording %d: NOT deleted: %v\n", r.ID, err)
				continue
			}
		}
		mark(r, "deleted")
	}
	// A file not found once (its directory moved away for a moment, say)
	// is marked gone only if a second look, after the other deletions,
	// does not find it either.
	for _, r := range missing {
		if err := files.CheckRemovable(r.File); !errors.Is(err, fs.ErrNotExist) {
			skipped++
			fmt.Fprintf(w, "recording %d: file %s was missing and is there again; NOT deleted, retry later\n", r.ID, r.File)
			continue
		}
		fmt.Fprintf(w, "recording %d: file %s is missing; marking the metadata deleted\n", r.ID, r.File)
		mark(r, "file already missing")
	}
	if dryRun {
		// The same summary and exit status as the real run, so that a
		// dry run in a script or a timer's test says what the run would.
		fmt.Fprintf(w, "retention (dry run, nothing deleted): %d would be deleted, %d would be skipped\n", due, skipped)
		if skipped > 0 {
			return rules.Errorf(rules.ECONFLICT, "retention: %d recording(s) would not be deleted (see above)", skipped)
		}
		return nil
	}
	if len(ids) > 0 {
		if err := st.MarkRecordingsDeleted(ctx, ids, now); err != nil {
			return err
		}
	}
	changes = append(changes, store.Change{Object: "retention", Field: "run",
		After: fmt.Sprintf("%d deleted, %d skipped", len(ids), skipped)})
	if err := st.AppendAudit(ctx, actor, changes...); err != nil {
		return err
	}
	fmt.Fprintf(w, "retention: %d deleted, %d skipped\n", len(ids), skipped)
	if skipped > 0 {
		return rules.Errorf(rules.ECONFLICT, "retention: %d recording(s) not deleted (see above)", skipped)
	}
	return nil
}
