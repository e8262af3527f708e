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
// (rulesfile.File.ForTenant). dryRun returns the changes without writing.
// Nothing is written when the file is invalid or changes nothing.
func importFile(ctx context.Context, st *store.Store, r io.Reader, name, actor, tenant string, dryRun bool) ([]store.Change, error) {
	f, err := rulesfile.ParseFile(r, name)
	if err != nil {
		return nil, err
	}
	if tenant != "" {
		if f, err = f.ForTenant(tenant); err != nil {
			return nil, err
		}
	}
	return applyFile(ctx, st, f, name, actor, dryRun)
}

// applyFile applies a parsed rules file: see importFile.
func applyFile(ctx context.Context, st *store.Store, f *rulesfile.File, name, actor string, dryRun bool) ([]store.Change, error) {
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
		return store.Diff(cur, next), nil
	}
	changes, err := st.UpdateRules(ctx, actor, func(rs *rules.RuleSet) error {
		next, err := f.Apply(rs)
		if err != nil {
			return err
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
