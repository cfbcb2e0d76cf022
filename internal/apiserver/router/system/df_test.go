package system_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	apisystem "github.com/moby/moby/api/types/system"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/apiserver/apitest"
	"github.com/berth-dev/berth/internal/apiserver/router/system"
)

type fakeSystem struct{ rep system.DiskUsageReport }

func (fakeSystem) Info(context.Context) (apisystem.Info, error) { return apisystem.Info{}, nil }
func (fakeSystem) Version(context.Context) (apisystem.VersionResponse, error) {
	return apisystem.VersionResponse{}, nil
}
func (f fakeSystem) DiskUsage(ctx context.Context, opts system.DiskUsageOptions) (system.DiskUsageReport, error) {
	return f.rep, nil
}

// The build cache records reach system df as the swagger describes them,
// and only when asked for.
func TestDiskUsageBuildCache(t *testing.T) {
	used := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := &build.CacheRecord{ID: "0123456789abcdef012345678", Parents: []string{"abc"}, Type: "regular",
		Description: "RUN make", Size: 300000, CreatedAt: used.Add(-time.Hour), LastUsedAt: &used, UsageCount: 3}
	srv := httptest.NewServer(apiserver.New(apiserver.Config{}, apiserver.Backends{
		System: fakeSystem{rep: system.DiskUsageReport{BuildCache: []*build.CacheRecord{rec}}},
	}).Handler())
	defer srv.Close()
	get := func(q string) []byte {
		resp, err := http.Get(srv.URL + "/v1.51/system/df" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
		}
		return b
	}
	body := get("")
	apitest.Check(t, "1.51", "GET", "/system/df", 200, body)
	var du struct{ BuildCache []build.CacheRecord }
	if err := json.Unmarshal(body, &du); err != nil {
		t.Fatal(err)
	}
	if len(du.BuildCache) != 1 || du.BuildCache[0].ID != rec.ID || du.BuildCache[0].Size != 300000 ||
		du.BuildCache[0].UsageCount != 3 || !du.BuildCache[0].LastUsedAt.Equal(used) || len(du.BuildCache[0].Parents) != 1 {
		t.Errorf("BuildCache = %+v", du.BuildCache)
	}

	var only map[string]json.RawMessage
	if err := json.Unmarshal(get("?type=image"), &only); err != nil {
		t.Fatal(err)
	}
	if string(only["BuildCache"]) != "null" {
		t.Errorf("type=image: BuildCache = %s, want null", only["BuildCache"])
	}
}
