//! The supervisor's rules against a fake spawner: start order, handlers, exit-code rule, stop.

use super::*;

#[derive(Default)]
struct Fake {
    next_pid: i32,
    /// (app, job, pid) in start order.
    spawned: Vec<(String, Job, i32)>,
    signals: Vec<(i32, i32)>,
    statuses: Vec<(String, i32)>,
    ready: usize,
    fail_spawn: Option<(String, Job)>,
}

impl Spawner for Fake {
    fn spawn(&mut self, app: &str, job: Job) -> io::Result<i32> {
        if self.fail_spawn == Some((app.to_string(), job)) {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        self.next_pid += 1;
        let pid = 100 + self.next_pid;
        self.spawned.push((app.to_string(), job, pid));
        Ok(pid)
    }
    fn signal(&mut self, pid: i32, signal: i32) {
        self.signals.push((pid, signal));
    }
    fn app_exited(&mut self, app: &str, code: i32) {
        self.statuses.push((app.to_string(), code));
    }
    fn all_started(&mut self) {
        self.ready += 1;
    }
}

impl Fake {
    fn pid(&self, app: &str, job: Job) -> i32 {
        self.spawned
            .iter()
            .find(|(a, j, _)| a == app && *j == job)
            .map(|(_, _, p)| *p)
            .unwrap_or_else(|| panic!("{app} {job:?} was not spawned: {:?}", self.spawned))
    }
}

fn app(name: &str) -> SupervisedApp {
    SupervisedApp {
        name: name.into(),
        pre_start: false,
        post_stop: false,
    }
}

fn started(apps: Vec<SupervisedApp>) -> (Supervisor, Fake, Instant) {
    let mut sup = Supervisor::new(apps);
    let mut fake = Fake::default();
    let now = Instant::now();
    sup.advance(&mut fake, now);
    (sup, fake, now)
}

const PRE: Job = Job::Handler(EventHandlerName::PreStart);
const POST: Job = Job::Handler(EventHandlerName::PostStop);

#[test]
fn single_app_gives_its_code() {
    for code in [0, 3, 137] {
        let (mut sup, mut fake, now) = started(vec![app("a")]);
        assert_eq!(fake.ready, 1);
        assert!(!sup.finished());
        let pid = fake.pid("a", Job::App);
        sup.on_exit(pid, code, &mut fake, now);
        assert!(sup.finished());
        assert_eq!(sup.exit_code(), code);
        assert_eq!(fake.statuses, [("a".to_string(), code)]);
    }
}

#[test]
fn first_failure_wins_and_stops_the_others() {
    let (mut sup, mut fake, now) = started(vec![app("a"), app("b"), app("c")]);
    let (a, b, c) = (
        fake.pid("a", Job::App),
        fake.pid("b", Job::App),
        fake.pid("c", Job::App),
    );
    sup.on_exit(a, 0, &mut fake, now);
    assert!(fake.signals.is_empty(), "a success stops nothing");
    sup.on_exit(b, 5, &mut fake, now);
    assert_eq!(fake.signals, [(c, libc::SIGTERM)]);
    assert_eq!(sup.deadline(), Some(now + STOP_GRACE));
    sup.on_exit(c, 6, &mut fake, now);
    assert!(sup.finished());
    assert_eq!(sup.exit_code(), 5);
    assert_eq!(sup.deadline(), None);
    let codes: Vec<i32> = fake.statuses.iter().map(|(_, c)| *c).collect();
    assert_eq!(codes, [0, 5, 6]);
}

#[test]
fn all_succeeding_gives_zero() {
    let (mut sup, mut fake, now) = started(vec![app("a"), app("b")]);
    let (a, b) = (fake.pid("a", Job::App), fake.pid("b", Job::App));
    sup.on_exit(b, 0, &mut fake, now);
    assert!(!sup.finished());
    sup.on_exit(a, 0, &mut fake, now);
    assert!(sup.finished());
    assert_eq!(sup.exit_code(), 0);
}

#[test]
fn sigkill_after_the_grace_period_only() {
    let (mut sup, mut fake, now) = started(vec![app("a"), app("b")]);
    let (a, b) = (fake.pid("a", Job::App), fake.pid("b", Job::App));
    sup.on_exit(a, 1, &mut fake, now);
    sup.on_timeout(&mut fake, now + Duration::from_secs(9));
    assert_eq!(fake.signals, [(b, libc::SIGTERM)]);
    sup.on_timeout(&mut fake, now + STOP_GRACE);
    assert_eq!(fake.signals, [(b, libc::SIGTERM), (b, libc::SIGKILL)]);
    assert_eq!(sup.deadline(), None, "SIGKILL is sent once");
    sup.on_exit(b, 137, &mut fake, now);
    assert_eq!(sup.exit_code(), 1);
}

#[test]
fn pre_start_runs_first_and_apps_start_in_order() {
    let mut b = app("b");
    b.pre_start = true;
    let (mut sup, mut fake, now) = started(vec![app("a"), b, app("c")]);
    let order: Vec<_> = fake
        .spawned
        .iter()
        .map(|(a, j, _)| (a.clone(), *j))
        .collect();
    assert_eq!(order, [("a".to_string(), Job::App), ("b".to_string(), PRE)]);
    assert_eq!(fake.ready, 0, "not ready while b's handler runs");
    let pre = fake.pid("b", PRE);
    sup.on_exit(pre, 0, &mut fake, now);
    let order: Vec<_> = fake
        .spawned
        .iter()
        .map(|(a, j, _)| (a.clone(), *j))
        .collect();
    assert_eq!(
        order[2..],
        [("b".to_string(), Job::App), ("c".to_string(), Job::App)]
    );
    assert_eq!(fake.ready, 1);
}

#[test]
fn failed_pre_start_fails_the_pod_and_skips_the_rest() {
    let mut a = app("a");
    a.pre_start = true;
    a.post_stop = true;
    let (mut sup, mut fake, now) = started(vec![a, app("b")]);
    sup.on_exit(fake.pid("a", PRE), 7, &mut fake, now);
    assert_eq!(fake.statuses, [("a".to_string(), 7)]);
    assert!(!fake.spawned.iter().any(|(_, j, _)| *j == Job::App));
    assert_eq!(fake.ready, 0);
    assert!(!sup.finished(), "the post-stop handler still runs");
    sup.on_exit(fake.pid("a", POST), 0, &mut fake, now);
    assert!(sup.finished());
    assert_eq!(sup.exit_code(), 7);
}

#[test]
fn post_stop_runs_after_the_app_and_is_waited_for() {
    let mut a = app("a");
    a.post_stop = true;
    let (mut sup, mut fake, now) = started(vec![a]);
    sup.on_exit(fake.pid("a", Job::App), 0, &mut fake, now);
    assert!(!sup.finished());
    let post = fake.pid("a", POST);
    sup.on_exit(post, 2, &mut fake, now);
    assert!(sup.finished());
    assert_eq!(
        sup.exit_code(),
        0,
        "a failing post-stop does not change the app's code"
    );
}

#[test]
fn orphans_are_reaped_and_ignored() {
    let (mut sup, mut fake, now) = started(vec![app("a")]);
    sup.on_exit(4242, 9, &mut fake, now);
    assert!(!sup.finished());
    assert!(fake.statuses.is_empty());
    assert_eq!(sup.exit_code(), 0);
}

#[test]
fn signals_are_forwarded_to_every_app() {
    let (mut sup, mut fake, now) = started(vec![app("a"), app("b")]);
    let (a, b) = (fake.pid("a", Job::App), fake.pid("b", Job::App));
    sup.on_signal(libc::SIGHUP, &mut fake);
    sup.on_exit(a, 0, &mut fake, now);
    sup.on_signal(libc::SIGTERM, &mut fake);
    assert_eq!(
        fake.signals,
        [(a, libc::SIGHUP), (b, libc::SIGHUP), (b, libc::SIGTERM)]
    );
    sup.on_exit(b, 143, &mut fake, now);
    assert!(sup.finished());
    assert_eq!(sup.exit_code(), 143);
}

#[test]
fn sigterm_during_pre_start_skips_later_apps() {
    let mut a = app("a");
    a.pre_start = true;
    let (mut sup, mut fake, now) = started(vec![a, app("b")]);
    let pre = fake.pid("a", PRE);
    sup.on_signal(libc::SIGTERM, &mut fake);
    assert_eq!(fake.signals, [(pre, libc::SIGTERM)]);
    sup.on_exit(pre, 143, &mut fake, now);
    assert!(sup.finished());
    assert_eq!(fake.spawned.len(), 1, "neither app started");
    assert_eq!(sup.exit_code(), 143);
}

#[test]
fn spawn_failure_counts_as_254() {
    let mut sup = Supervisor::new(vec![app("a"), app("b")]);
    let mut fake = Fake {
        fail_spawn: Some(("a".into(), Job::App)),
        ..Fake::default()
    };
    let now = Instant::now();
    sup.advance(&mut fake, now);
    assert_eq!(fake.statuses, [("a".to_string(), 254)]);
    assert!(fake.spawned.is_empty(), "b is skipped once a failed");
    assert!(sup.finished());
    assert_eq!(sup.exit_code(), 254);
}

#[test]
fn a_pod_without_apps_is_done_at_once() {
    let (sup, fake, _) = started(Vec::new());
    assert!(sup.finished());
    assert_eq!(sup.exit_code(), 0);
    assert_eq!(fake.ready, 1);
}
