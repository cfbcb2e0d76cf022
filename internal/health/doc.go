// Package health runs a container's healthcheck, as dockerd does, and adds
// what dockerd lacks: an action when the container becomes unhealthy.
//
// # Schedule and state
//
// After the container starts, a Monitor waits one interval (StartInterval
// while the container is still "starting" inside its start period,
// Interval otherwise), runs the probe, records the result, and repeats
// until its context ends. The probe runs inside the container through the
// Prober the engine supplies (an exec); when it outlives Timeout its
// context is cancelled, the Prober kills it, and the result is exit code
// -1, "Health check exceeded timeout (T)".
//
//	exit 0                  FailingStreak = 0; Status = healthy
//	any other result        FailingStreak++ (not while starting within the
//	                        start period); Status = unhealthy once
//	                        FailingStreak >= Retries
//
// The Log keeps the last 5 results, each output cut to 4096 bytes. A status
// change is reported to OnStatus (the engine publishes
// "health_status: healthy|unhealthy" and applies the on-failure action).
// When the container stops, the engine marks it unhealthy, as dockerd does
// "for compatibility"; a start resets it to starting.
//
// Defaults (dockerd's): interval 30s, timeout 30s, start period 0, start
// interval 5s, retries 3. Test ["NONE"] (--no-healthcheck) disables.
//
// # On failure
//
// The label berth.health-on-failure (none, kill, stop, restart; the berth
// CLI's --health-on-failure sets it, and docker run --label does too)
// names the action taken when the status becomes unhealthy. A label and
// not a HostConfig field because the docker CLI and SDKs pass labels
// through unchanged, so the option works from every client.
package health
