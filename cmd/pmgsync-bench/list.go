package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// listStores are the two stores of the list and start-up workloads.
type listStores struct {
	// empty holds only maria's listFiles files.
	empty string
	// big holds maria's listFiles files too, joao's listGrowth[0] and
	// ana's listGrowth[1], and `others` files of 1,000 other technicians.
	big string
	// emptyTokens and bigTokens are the technicians' tokens in each store.
	emptyTokens, bigTokens map[string]string
}

// The technicians of the list stores.
const (
	listMaria = "maria"
	listJoao  = "joao"
	listAna   = "ana"
)

// otherTechnicians is how many technicians share the big store's others.
const otherTechnicians = 1000

// stores returns the list stores, seeding them the first time.
func (b *bench) stores(ctx context.Context) (*listStores, error) {
	if b.lists != nil {
		return b.lists, nil
	}
	s := b.cfg.sizes
	st := &listStores{emptyTokens: map[string]string{}, bigTokens: map[string]string{}}
	var err error
	if st.empty, err = b.dataDir("list-empty"); err != nil {
		return nil, err
	}
	if st.big, err = b.dataDir("list-big"); err != nil {
		return nil, err
	}
	names := []string{listMaria, listJoao, listAna}
	now := time.Now()
	for i, data := range []string{st.empty, st.big} {
		t0 := time.Now()
		tokens, err := seedTechnicians(ctx, data, names)
		if err != nil {
			return nil, err
		}
		byName := st.bigTokens
		if i == 0 {
			byName = st.emptyTokens
		}
		for j, n := range names {
			byName[n] = tokens[j]
		}
		err = withTx(ctx, data, func(tx *sql.Tx) error {
			ids := map[string]int64{}
			for _, n := range names {
				id, err := technicianID(ctx, tx, n)
				if err != nil {
					return err
				}
				ids[n] = id
			}
			if err := insertFiles(ctx, tx, fileSpec{firstTech: ids[listMaria], techs: 1, n: s.listFiles,
				prefix: "relatorio-maria-", keyBase: 1 << 40, size: int64(s.smallFile), uploadedAt: now}); err != nil {
				return err
			}
			if i == 0 {
				return nil
			}
			for k, n := range []string{listJoao, listAna} {
				if err := insertFiles(ctx, tx, fileSpec{firstTech: ids[n], techs: 1, n: s.listGrowth[k],
					prefix: "relatorio-" + n + "-", keyBase: int64(k+2) << 40, size: int64(s.smallFile), uploadedAt: now}); err != nil {
					return err
				}
			}
			first, err := insertTechnicians(ctx, tx, "outro-", otherTechnicians)
			if err != nil {
				return err
			}
			return insertFiles(ctx, tx, fileSpec{firstTech: first, techs: otherTechnicians, n: s.others,
				prefix: "relatorio-", keyBase: 0, size: int64(s.smallFile), uploadedAt: now})
		})
		if err != nil {
			return nil, err
		}
		b.logf("   seeded %s in %s", data, time.Since(t0).Round(10*time.Millisecond))
	}
	b.lists = st
	return st, nil
}

// listLatency measures the latency of the list of the technician with
// token, which must hold want files, by one client's requests in a row
// (profiled as profile, if the run profiles).
func (b *bench) listLatency(ctx context.Context, srv *server, token string, want int, profile string) (measured, error) {
	client := newClient(1)
	defer client.CloseIdleConnections()
	buf := make([]byte, 256<<10)
	check := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url+"/list", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct{ Files []string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return fmt.Errorf("GET /list: %s: %w", resp.Status, err)
		}
		if len(body.Files) != want || !slices.IsSorted(body.Files) {
			return fmt.Errorf("GET /list: %d files (sorted: %t); want %d, sorted", len(body.Files), slices.IsSorted(body.Files), want)
		}
		return nil
	}
	if err := check(ctx); err != nil {
		return measured{}, err
	}
	op := func(ctx context.Context, _, _ int) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.url+"/list", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return do(client, req, buf, http.StatusOK)
	}
	if res := (load{workers: 1, maxOps: 50, duration: time.Hour}).run(ctx, op); res.err("warm-up") != nil {
		return measured{}, res.err("warm-up")
	}
	var res result
	err := b.profiled(ctx, srv, profile, func() error {
		res = load{workers: 1, duration: b.cfg.duration}.run(ctx, op)
		return res.err("list")
	})
	if err != nil {
		return measured{}, err
	}
	d := loadDetails(&res)
	d["files"] = want
	return measured{ms(percentile(res.latencies(), 50)), d}, nil
}

// runList: the list of a technician with 100 files while the store holds
// a million files of others, against the same list on an otherwise empty
// store; and the list of 10,000 files against that of 1,000. The figure
// is the median latency of one client's requests in a row.
func runList(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	st, err := b.stores(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := b.start(ctx, st.empty)
	if err != nil {
		return nil, err
	}
	empty, err := b.listLatency(ctx, srv, st.emptyTokens[listMaria], s.listFiles, "")
	srv.stop()
	if err != nil {
		return nil, err
	}
	srv, err = b.start(ctx, st.big)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	big, err := b.listLatency(ctx, srv, st.bigTokens[listMaria], s.listFiles, "list-others")
	if err != nil {
		return nil, err
	}
	small, err := b.listLatency(ctx, srv, st.bigTokens[listJoao], s.listGrowth[0], "")
	if err != nil {
		return nil, err
	}
	large, err := b.listLatency(ctx, srv, st.bigTokens[listAna], s.listGrowth[1], "list-large")
	if err != nil {
		return nil, err
	}
	others := newRow(fmt.Sprintf("/list of %d files, %s files of others", s.listFiles, count(s.others)), "ms p50",
		big.value, empty.value, "empty store", atMostRatio(1.5, "empty store"))
	others.Details = map[string]any{"pmgsync": big.details, "empty_store": empty.details}
	growth := float64(s.listGrowth[1]) / float64(s.listGrowth[0])
	grows := newRow(fmt.Sprintf("/list of %s files", count(s.listGrowth[1])), "ms p50",
		large.value, small.value, count(s.listGrowth[0])+" files", atMostRatio(growth, count(s.listGrowth[0])+" files (linear)"))
	grows.Details = map[string]any{"pmgsync": large.details, "smaller_list": small.details}
	return []Row{others, grows}, nil
}

// runStartup: the time from the start of the process to its first 200 on
// /healthz, with the big store, against the empty store; the median of
// several starts of each, alternating.
func runStartup(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	st, err := b.stores(ctx)
	if err != nil {
		return nil, err
	}
	var bigTimes, emptyTimes []time.Duration
	for range s.startups {
		for _, data := range []string{st.empty, st.big} {
			srv, err := b.start(ctx, data)
			if err != nil {
				return nil, err
			}
			if data == st.big {
				bigTimes = append(bigTimes, srv.ready)
			} else {
				emptyTimes = append(emptyTimes, srv.ready)
			}
			if err := srv.stop(); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(bigTimes)
	slices.Sort(emptyTimes)
	row := newRow(fmt.Sprintf("start-up to first /healthz 200, %s files", count(s.others+s.listFiles+s.listGrowth[0]+s.listGrowth[1])),
		"ms", ms(bigTimes[len(bigTimes)/2]), ms(emptyTimes[len(emptyTimes)/2]), "empty store", atMostValue(2000, "ms"))
	row.Details = map[string]any{"pmgsync_ms": msList(bigTimes), "empty_store_ms": msList(emptyTimes)}
	return []Row{row}, nil
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// count writes n with thousands separators: 1,000,000.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
