package sqladapter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"slices"
	"time"

	"github.com/bentocache/bento"
)

// Hash returns the SHA-256 of key: the primary key of its row, where the
// server limits the size of an index entry.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// NonNil returns v, or an empty slice for nil: a nil []byte is sent as NULL.
func NonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// HashedRow is a row and the [Hash] of its key.
type HashedRow struct {
	Hash []byte
	Row  bento.Row
}

// ByHash returns rows, each with its hash, without the earlier rows of a
// repeated key (an upsert cannot touch one row twice), in the order of the
// hashes: the order of the primary key, so that concurrent batches lock
// rows in the same order and cannot deadlock each other.
func ByHash(rows []bento.Row) []HashedRow {
	rows = lastPerKey(rows)
	hs := make([]HashedRow, len(rows))
	for i, r := range rows {
		hs[i] = HashedRow{Hash(r.Key), r}
	}
	slices.SortFunc(hs, func(x, y HashedRow) int { return bytes.Compare(x.Hash, y.Hash) })
	return hs
}

// lastPerKey returns rows without the earlier rows of a repeated key.
func lastPerKey(rows []bento.Row) []bento.Row {
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		last[r.Key] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]bento.Row, 0, len(last))
	for i, r := range rows {
		if last[r.Key] == i {
			out = append(out, r)
		}
	}
	return out
}

// UnixMilli returns an expires_at stored as unix milliseconds: NULL for the
// zero time.
func UnixMilli(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: !t.IsZero()}
}

// ToRow returns the Row read back from a value and an expires_at of unix
// milliseconds.
func ToRow(key string, v []byte, exp sql.NullInt64) bento.Row {
	r := bento.Row{Key: key, Value: NonNil(v)}
	if exp.Valid {
		r.ExpiresAt = time.UnixMilli(exp.Int64)
	}
	return r
}

// QueryRows appends to out the rows of key, value and expires_at (unix
// milliseconds) that sqlText returns.
func QueryRows(ctx context.Context, db *sql.DB, out []bento.Row, sqlText string, args []any) ([]bento.Row, error) {
	rows, err := db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k, v []byte
			exp  sql.NullInt64
		)
		if err := rows.Scan(&k, &v, &exp); err != nil {
			return out, err
		}
		out = append(out, ToRow(string(k), v, exp))
	}
	return out, rows.Err()
}

// Affected returns the number of rows that an Exec changed.
func Affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
