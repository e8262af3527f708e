package main

import (
	"context"
	"fmt"
	"io"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
	"github.com/recgate/recgate/store"
)

// importFile parses a rules file of any form and applies it to the store in
// one audited transaction (rulesfile.File.Apply): a classic file replaces
// the global defaults and the default tenant's groups and stations, a
// tenant's file that tenant, a tenants file everything. With tenant set,
// only that tenant is replaced, whatever the file's form
// (rulesfile.File.ForTenant). check, when not nil, may refuse the change
// from the current rules to the new ones, inside the transaction. dryRun
// returns the changes without writing, with check's refusal if any.
// Nothing is written when the file is invalid or changes nothing.
func importFile(ctx context.Context, st *store.Store, r io.Reader, name, actor, tenant string, dryRun bool, check func(cur, next *rules.RuleSet) error) ([]store.Change, error) {
	f, err := rulesfile.ParseFile(r, name)
	if err != nil {
		return nil, err
	}
	if tenant != "" {
		if f, err = f.ForTenant(tenant); err != nil {
			return nil, err
		}
	}
	return applyFileChecked(ctx, st, f, name, actor, dryRun, check)
}

// applyFile applies a parsed rules file as it is, deletions included (the
// rules_file watcher, declarative by design): see importFile.
func applyFile(ctx context.Context, st *store.Store, f *rulesfile.File, name, actor string, dryRun bool) ([]store.Change, error) {
	return applyFileChecked(ctx, st, f, name, actor, dryRun, nil)
}

func applyFileChecked(ctx context.Context, st *store.Store, f *rulesfile.File, name, actor string, dryRun bool, check func(cur, next *rules.RuleSet) error) ([]store.Change, error) {
	if dryRun {
		cur, err := st.LoadRules(ctx)
		if err != nil {
			return nil, err
		}
		next, err := f.Apply(cur)
		if err != nil {
			return nil, err
		}
		if err := next.Validate(); err != nil {
			return nil, rules.Errorf(rules.EINVALID, "%s: %v", name, err)
		}
		changes := store.Diff(cur, next)
		if check != nil {
			return changes, check(cur, next)
		}
		return changes, nil
	}
	changes, err := st.UpdateRules(ctx, actor, func(rs *rules.RuleSet) error {
		next, err := f.Apply(rs)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(rs, next); err != nil {
				return err
			}
		}
		*rs = *next
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	return changes, nil
}

// writeRules writes the rules file of tenant, or of all the rules when
// tenant is empty.
func writeRules(w io.Writer, rs *rules.RuleSet, tenant string) error {
	if tenant == "" {
		return rulesfile.Write(w, rs)
	}
	return rulesfile.WriteTenant(w, rs, tenant)
}
