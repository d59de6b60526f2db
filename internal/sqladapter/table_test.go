package sqladapter

import (
	"errors"
	"testing"
)

func TestTable_Errors(t *testing.T) {
	tb := NewTable("postgres", "bentocache")
	cause := errors.New("boom")
	if tb.Err() != nil || tb.Name() != "bentocache" {
		t.Fatalf("NewTable(postgres, bentocache) = %q, %v; want the name, no error", tb.Name(), tb.Err())
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{tb.Fail("get", cause), `postgres: get in table "bentocache": boom`},
		{tb.FailIf("pull", cause), `postgres: pull in table "bentocache": boom`},
		{tb.CreateFailed(cause), `postgres: create table "bentocache": boom`},
	} {
		if tt.err.Error() != tt.want || !errors.Is(tt.err, cause) {
			t.Errorf("error = %q; want %q, wrapping its cause", tt.err, tt.want)
		}
	}
	if err := tb.FailIf("pull", nil); err != nil {
		t.Errorf("FailIf(pull, nil) = %v; want <nil>", err)
	}
	if NewTable("mysql", "a;b").Err() == nil {
		t.Error(`NewTable(mysql, "a;b").Err() = <nil>; want the table name rejected`)
	}
}
