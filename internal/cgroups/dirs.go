package cgroups

// Dirs returns the cgroup's directories: one per mounted v1 hierarchy (in
// layout order) and the unified one ("" when there is none). A caller
// that places a process itself uses them: runtime/linux's exec moves the
// exec'd thread into each v1 hierarchy through its tasks file and forks
// into the unified one with CLONE_INTO_CGROUP, which spares the RCU grace
// period a cgroup.procs write waits for.
func (m *manager) Dirs() (v1 []string, unified string) {
	for _, d := range m.v1 {
		v1 = append(v1, d.dir)
	}
	return v1, m.unified
}
