//! The app's final environment: stage1's merged list plus rkt's defaults for what is missing.

use crate::spec::EnvVar;
use crate::user::Identity;

/// appc requires exactly this `PATH` when the app sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// appc's `container=<executor name>`; rkt's value, so software that detects rkt keeps working.
pub const CONTAINER: &str = "rkt";

/// `given` in order, then each default whose name `given` lacks. Values set by the app always
/// win, even when empty: stage1 already applied rkt's precedence.
pub fn app_environment(given: &[EnvVar], app_name: &str, id: &Identity) -> Vec<EnvVar> {
    let mut env = given.to_vec();
    let home = match (&id.home, id.uid) {
        (Some(home), _) => home.clone(),
        (None, 0) => "/root".to_string(),
        (None, _) => "/".to_string(),
    };
    let user = match (&id.user_name, id.uid) {
        (Some(name), _) => Some(name.clone()),
        (None, 0) => Some("root".to_string()),
        (None, _) => None,
    };
    let mut defaults = vec![
        ("PATH", Some(DEFAULT_PATH.to_string())),
        ("AC_APP_NAME", Some(app_name.to_string())),
        ("HOME", Some(home)),
        ("USER", user.clone()),
        ("LOGNAME", user),
        ("SHELL", Some("/bin/sh".to_string())),
        ("container", Some(CONTAINER.to_string())),
    ];
    for (name, value) in defaults.drain(..) {
        if let Some(value) = value
            && !env.iter().any(|v| v.name == name)
        {
            env.push(EnvVar::new(name, value));
        }
    }
    env
}

/// The value of `name` in `env`, as the app will see it.
pub fn lookup<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|v| v.name == name)
        .map(|v| v.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(uid: u32, name: Option<&str>, home: Option<&str>) -> Identity {
        Identity {
            uid,
            gid: uid,
            supplementary_gids: vec![],
            user_name: name.map(str::to_string),
            home: home.map(str::to_string),
        }
    }

    fn pairs(env: &[EnvVar]) -> Vec<(&str, &str)> {
        env.iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect()
    }

    #[test]
    fn root_without_passwd_entry_gets_rkt_defaults() {
        let env = app_environment(&[], "web", &id(0, None, None));
        assert_eq!(
            pairs(&env),
            [
                ("PATH", DEFAULT_PATH),
                ("AC_APP_NAME", "web"),
                ("HOME", "/root"),
                ("USER", "root"),
                ("LOGNAME", "root"),
                ("SHELL", "/bin/sh"),
                ("container", "rkt"),
            ]
        );
    }

    #[test]
    fn passwd_entry_gives_home_and_names() {
        let env = app_environment(&[], "web", &id(1000, Some("alice"), Some("/home/a")));
        assert_eq!(lookup(&env, "HOME"), Some("/home/a"));
        assert_eq!(lookup(&env, "USER"), Some("alice"));
        assert_eq!(lookup(&env, "LOGNAME"), Some("alice"));
    }

    #[test]
    fn unknown_non_root_user_gets_slash_home_and_no_name() {
        let env = app_environment(&[], "web", &id(4242, None, None));
        assert_eq!(lookup(&env, "HOME"), Some("/"));
        assert_eq!(lookup(&env, "USER"), None);
        assert_eq!(lookup(&env, "LOGNAME"), None);
    }

    #[test]
    fn given_values_win_and_keep_their_order() {
        let given = [
            EnvVar::new("ZED", "1"),
            EnvVar::new("PATH", "/app/bin"),
            EnvVar::new("HOME", ""),
            EnvVar::new("AC_APP_NAME", "spoof"),
        ];
        let env = app_environment(&given, "web", &id(0, None, None));
        assert_eq!(&env[..4], &given);
        assert_eq!(lookup(&env, "PATH"), Some("/app/bin"));
        assert_eq!(lookup(&env, "HOME"), Some(""));
        assert_eq!(env.iter().filter(|v| v.name == "PATH").count(), 1);
        assert_eq!(lookup(&env, "container"), Some("rkt"));
    }
}
