// Package admin is the admin API of bento on a running server (module
// admin.api.bento): list the stores with their layers and counters; get,
// set and delete a key; clear a store or a namespace; delete and expire by
// tag. JSON in and out; errors are JSON with an HTTP status.
//
//	GET    /bento/stores
//	GET    /bento/stores/{store}/keys/{key}?namespace=users
//	PUT    /bento/stores/{store}/keys/{key}?namespace=users   {"value": …, "ttl": "10m", "tags": ["t"]}
//	DELETE /bento/stores/{store}/keys/{key}?namespace=users
//	POST   /bento/stores/{store}/clear?namespace=users
//	POST   /bento/stores/{store}/tags/delete?namespace=users  {"tags": ["t"]}
//	POST   /bento/stores/{store}/tags/expire?namespace=users  {"tags": ["t"]}
//	POST   /bento/stores/{store}/purge?namespace=http         {"urls": ["https://example.com/a"], "tags": ["t"], "all": false}
//
// The purge route removes responses that http.handlers.bento_cache stored:
// by URL (with all its variants), by surrogate key, or all of them; its
// namespace defaults to the handler's default, "http".
//
// With admin_read_only set in the bento app, only the GET routes answer; the
// others get 403. A request body is one JSON object of at most 8 MiB.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/abridge"
	httpcache "github.com/bentocache/bento/modules/http"
)

func init() { caddy.RegisterModule(API{}) }

// maxBody bounds a request body; a larger one answers 413.
const maxBody = 8 << 20

// methods are the methods some bento route answers, in the order an Allow
// header lists them.
var methods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete}

// API is the admin router of bento. Module ID: admin.api.bento. Caddy loads
// it with the admin endpoint; it finds the bento app of the running config
// on each request.
type API struct {
	ctx caddy.Context
	mux *http.ServeMux
}

// CaddyModule returns the Caddy module information.
func (API) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.bento", New: func() caddy.Module { return new(API) }}
}

// Provision keeps the config's context, through which requests find the app.
func (a *API) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.mux = http.NewServeMux()
	a.mux.Handle("GET /bento/stores", a.handle(a.listStores))
	a.mux.Handle("GET /bento/stores/{store}/keys/{key}", a.handle(a.getKey))
	a.mux.Handle("PUT /bento/stores/{store}/keys/{key}", a.handle(a.setKey))
	a.mux.Handle("DELETE /bento/stores/{store}/keys/{key}", a.handle(a.deleteKey))
	a.mux.Handle("POST /bento/stores/{store}/clear", a.handle(a.clear))
	a.mux.Handle("POST /bento/stores/{store}/tags/{action}", a.handle(a.tags))
	a.mux.Handle("POST /bento/stores/{store}/purge", a.handle(a.purge))
	return nil
}

// Routes returns the admin routes.
func (a *API) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/bento/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// serve dispatches to the mux and turns a miss of the mux into a JSON error:
// 405 with an Allow header when the path has routes for other methods, 404
// when it has none.
func (a *API) serve(w http.ResponseWriter, r *http.Request) error {
	if _, pattern := a.mux.Handler(r); pattern == "" {
		if allow := a.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return apiError(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s: use %s",
				abridge.String(r.Method), abridge.String(r.URL.Path), strings.Join(allow, " or ")))
		}
		return apiError(http.StatusNotFound, fmt.Errorf("no bento admin route for %s %s", abridge.String(r.Method), abridge.String(r.URL.Path)))
	}
	var err error
	a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), errKey{}, &err)))
	return err
}

// allowed returns the methods that have a route for the path of r.
func (a *API) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// errKey carries, through the mux, where a handler puts its error for
// Caddy's admin server to render as JSON.
type errKey struct{}

// handle adapts a handler that returns a value or an error. It bounds the
// request body, refuses writes when the app is read-only, and encodes the
// answer before writing it, so that a value JSON cannot show is an error
// answer, not half a body.
func (a *API) handle(f func(r *http.Request, app *bento.App) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errp := r.Context().Value(errKey{}).(*error)
		*errp = func() error {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			app, err := a.app()
			if err != nil {
				return err
			}
			if app.AdminReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
				return apiError(http.StatusForbidden, fmt.Errorf("%s %s: the bento admin API is read-only (admin_read_only is set in the bento app)",
					r.Method, abridge.String(r.URL.Path)))
			}
			v, err := f(r, app)
			if err != nil {
				return err
			}
			body, err := json.Marshal(v)
			if err != nil {
				return apiError(http.StatusUnprocessableEntity, fmt.Errorf("the answer cannot be shown as JSON (a value stored by another writer, such as NaN or an infinity?): %w", err))
			}
			w.Header().Set("Content-Type", "application/json")
			_, err = w.Write(append(body, '\n'))
			return err
		}()
	})
}

func (a *API) app() (*bento.App, error) {
	v, err := a.ctx.AppIfConfigured("bento")
	if err != nil {
		return nil, apiError(http.StatusNotFound, errors.New("the running config has no bento app"))
	}
	return v.(*bento.App), nil
}

type storeInfo struct {
	Name     string            `json:"name"`
	Default  bool              `json:"default"`
	Layers   map[string]string `json:"layers"`
	Counters map[string]int64  `json:"counters"`
}

func (a *API) listStores(_ *http.Request, app *bento.App) (any, error) {
	m := app.Manager()
	def := m.Default().Store()
	out := []storeInfo{}
	for _, name := range m.Stores() {
		out = append(out, storeInfo{Name: name, Default: name == def, Layers: app.StoreLayers(name), Counters: app.Counters(name).Snapshot()})
	}
	return out, nil
}

// cache returns the namespace of the request's store.
func cache(r *http.Request, app *bento.App) (*bento.Cache, error) {
	c, err := app.Use(r.PathValue("store"))
	if err != nil {
		return nil, apiError(http.StatusNotFound, err)
	}
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		c = c.Namespace(ns)
	}
	return c, nil
}

type keyValue struct {
	Key   string `json:"key"`
	Found bool   `json:"found"`
	Value any    `json:"value,omitempty"`
}

func (a *API) getKey(r *http.Request, app *bento.App) (any, error) {
	c, err := cache(r, app)
	if err != nil {
		return nil, err
	}
	key := r.PathValue("key")
	v, found, err := bento.Get[any](r.Context(), c, key)
	if err != nil {
		return nil, apiError(statusOf(err), err)
	}
	return keyValue{Key: key, Found: found, Value: v}, nil
}

type setRequest struct {
	Value any      `json:"value"`
	TTL   string   `json:"ttl,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

func (a *API) setKey(r *http.Request, app *bento.App) (any, error) {
	c, err := cache(r, app)
	if err != nil {
		return nil, err
	}
	var req setRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	var opts []bento.Option
	if req.TTL != "" {
		d, err := caddy.ParseDuration(req.TTL)
		if err != nil {
			return nil, apiError(http.StatusBadRequest, fmt.Errorf("ttl: %w", err))
		}
		opts = append(opts, bento.TTL(d))
	}
	if len(req.Tags) > 0 {
		opts = append(opts, bento.Tags(req.Tags...))
	}
	key := r.PathValue("key")
	if err := c.Set(r.Context(), key, req.Value, opts...); err != nil {
		return nil, apiError(statusOf(err), err)
	}
	return keyValue{Key: key, Found: true, Value: req.Value}, nil
}

func (a *API) deleteKey(r *http.Request, app *bento.App) (any, error) {
	c, err := cache(r, app)
	if err != nil {
		return nil, err
	}
	deleted, err := c.Delete(r.Context(), r.PathValue("key"))
	if err != nil {
		return nil, apiError(statusOf(err), err)
	}
	return map[string]bool{"deleted": deleted}, nil
}

func (a *API) clear(r *http.Request, app *bento.App) (any, error) {
	c, err := cache(r, app)
	if err != nil {
		return nil, err
	}
	if err := c.Clear(r.Context()); err != nil {
		return nil, apiError(statusOf(err), err)
	}
	return map[string]string{"cleared": c.Store(), "namespace": c.Path()}, nil
}

func (a *API) tags(r *http.Request, app *bento.App) (any, error) {
	c, err := cache(r, app)
	if err != nil {
		return nil, err
	}
	var req struct {
		Tags []string `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	switch action := r.PathValue("action"); action {
	case "delete":
		err = c.DeleteByTag(r.Context(), req.Tags...)
	case "expire":
		err = c.ExpireByTag(r.Context(), req.Tags...)
	default:
		return nil, apiError(http.StatusNotFound, fmt.Errorf("unknown tag action %q (want delete or expire)", action))
	}
	if err != nil {
		return nil, apiError(statusOf(err), err)
	}
	return map[string]any{"tags": req.Tags}, nil
}

// purge removes responses of http.handlers.bento_cache.
func (a *API) purge(r *http.Request, app *bento.App) (any, error) {
	if !r.URL.Query().Has("namespace") {
		q := r.URL.Query()
		q.Set("namespace", httpcache.DefaultNamespace)
		r.URL.RawQuery = q.Encode()
	}
	c, err := cache(r, app)
	if err != nil {
		return nil, err
	}
	var req httpcache.Purge
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	res, err := req.Run(r.Context(), c)
	if err != nil {
		return nil, apiError(statusOf(err), fmt.Errorf("purge: %w", err))
	}
	return res, nil
}

// decode reads a JSON body strictly: one object with known fields, nothing
// after it, at most maxBody bytes (http.MaxBytesReader, set by handle).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		} else if err == nil {
			err = errors.New("more than one JSON value")
		}
		err = fmt.Errorf("data after the JSON value: %w", err)
	}
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return apiError(http.StatusRequestEntityTooLarge, fmt.Errorf("request body: larger than the limit of %d bytes (%d MiB)", tooLarge.Limit, tooLarge.Limit>>20))
	}
	return apiError(http.StatusBadRequest, fmt.Errorf("request body: %w", err))
}

// statusOf maps bento's errors to HTTP statuses.
func statusOf(err error) int {
	var l2 *bento.L2Error
	switch {
	case errors.Is(err, bento.ErrInvalidKey), errors.Is(err, bento.ErrTypeMismatch),
		errors.Is(err, bento.ErrInvalidOption), errors.Is(err, bento.ErrInvalidTag),
		errors.Is(err, bento.ErrUnencodable), errors.Is(err, httpcache.ErrInvalidPurge):
		return http.StatusBadRequest
	case errors.Is(err, bento.ErrUnknownStore):
		return http.StatusNotFound
	case errors.As(err, &l2):
		return http.StatusBadGateway
	case errors.Is(err, bento.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// Interface guards
var (
	_ caddy.AdminRouter = (*API)(nil)
	_ caddy.Provisioner = (*API)(nil)
)
