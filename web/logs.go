package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/store"
)

// AuditInput pages the audit log, oldest first.
type AuditInput struct {
	TenantPath
	After int64 `query:"after" minimum:"0" doc:"only entries after this id (the last id of the previous page)"`
	Limit int   `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// AuditOutput is a page of the audit log.
type AuditOutput struct{ Body Page[store.AuditEntry] }

// AccessLogInput pages the access log, newest first.
type AccessLogInput struct {
	TenantPath
	Cursor string `query:"cursor" maxLength:"20" pattern:"^[0-9]*$"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// AccessLogOutput is a page of the access log.
type AccessLogOutput struct{ Body Page[store.AccessEntry] }

func (s *Server) registerLogs() {
	tags := []string{"logs"}
	add(s, Reader, huma.Operation{OperationID: "list-audit", Method: http.MethodGet, Path: "/tenants/{tenant}/audit",
		Tags: tags, Summary: "Who changed what when, before and after (oldest first)"}, s.listAudit)
	add(s, Reader, huma.Operation{OperationID: "list-access-log", Method: http.MethodGet, Path: "/tenants/{tenant}/access-log",
		Tags: tags, Summary: "Every play and download of the tenant's recordings: who, when, from where (newest first)"}, s.listAccessLog)
}

func (s *Server) listAudit(ctx context.Context, in *AuditInput) (*AuditOutput, error) {
	entries, err := s.auditOf(ctx, in.Tenant, in.After, in.Limit+1)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &AuditOutput{Body: Page[store.AuditEntry]{Items: entries}}
	if out.Body.Items == nil {
		out.Body.Items = []store.AuditEntry{}
	}
	if len(entries) > in.Limit {
		out.Body.Items = entries[:in.Limit]
		out.Body.NextCursor = strconv.FormatInt(entries[in.Limit-1].ID, 10)
	}
	return out, nil
}

func (s *Server) listAccessLog(ctx context.Context, in *AccessLogInput) (*AccessLogOutput, error) {
	var before int64
	if in.Cursor != "" {
		before, _ = strconv.ParseInt(in.Cursor, 10, 64)
	}
	entries, err := s.store.AccessLog(ctx, store.AccessFilter{Tenant: in.Tenant, BeforeID: before, Limit: in.Limit + 1})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &AccessLogOutput{Body: Page[store.AccessEntry]{Items: entries}}
	if out.Body.Items == nil {
		out.Body.Items = []store.AccessEntry{}
	}
	if len(entries) > in.Limit {
		out.Body.Items = entries[:in.Limit]
		out.Body.NextCursor = strconv.FormatInt(entries[in.Limit-1].ID, 10)
	}
	return out, nil
}
