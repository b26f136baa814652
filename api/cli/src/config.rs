//! Where the CLI finds the API and its key: flags, then the environment
//! (`CHORUS_URL`, `CHORUS_API_KEY`), then a named profile of
//! `~/.config/chorus/config.toml` (or `$CHORUS_CLI_CONFIG`). A profile named
//! with `--profile` (or `CHORUS_PROFILE`) wins over the environment.
//!
//! ```toml
//! default_profile = "local"
//!
//! [profiles.local]
//! url = "http://127.0.0.1:8080"
//! api_key = "chorus_…"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::Usage;

/// The API's address when nothing names one: `just up`'s.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The file: profiles by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    url: Option<String>,
    api_key: Option<String>,
}

/// What the command line and the environment said.
#[derive(Debug, Default)]
pub struct Given {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub profile: Option<String>,
    pub env_url: Option<String>,
    pub env_api_key: Option<String>,
    pub config_path: Option<PathBuf>,
}

/// Where to send requests, and with which key.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub url: String,
    pub api_key: String,
}

impl Given {
    /// From the process's environment, with the flags' values.
    pub fn from_env(url: Option<String>, api_key: Option<String>, profile: Option<String>) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            url,
            api_key,
            profile: profile.or_else(|| var("CHORUS_PROFILE")),
            env_url: var("CHORUS_URL"),
            env_api_key: var("CHORUS_API_KEY"),
            config_path: var("CHORUS_CLI_CONFIG")
                .map(PathBuf::from)
                .or_else(|| dirs::config_dir().map(|d| d.join("chorus").join("config.toml"))),
        }
    }

    /// Resolves the target; a named profile that does not exist, a file
    /// that does not parse, or no key at all is a usage error.
    pub fn resolve(self) -> Result<Target, Usage> {
        let file = match &self.config_path {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path).map_err(|e| Usage(format!("{}: {e}", path.display())))?;
                toml::from_str::<File>(&text).map_err(|e| Usage(format!("{}: {e}", path.display())))?
            }
            _ => File::default(),
        };
        let named = self.profile.is_some();
        let profile = match self.profile.or(file.default_profile) {
            Some(name) => match file.profiles.get(&name) {
                Some(p) => p.clone(),
                None => return Err(Usage(format!("no profile `{name}` in the config file"))),
            },
            None => Profile::default(),
        };
        let (first, second) = if named {
            ((profile.url, profile.api_key), (self.env_url, self.env_api_key))
        } else {
            ((self.env_url, self.env_api_key), (profile.url, profile.api_key))
        };
        let url = self.url.or(first.0).or(second.0).unwrap_or_else(|| DEFAULT_URL.to_string());
        let api_key = self.api_key.or(first.1).or(second.1).ok_or_else(|| {
            Usage("no API key: set CHORUS_API_KEY, pass --api-key, or add a profile to the config file".into())
        })?;
        Ok(Target { url: url.trim_end_matches('/').to_string(), api_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    const TWO: &str = r#"default_profile = "a"
[profiles.a]
url = "http://a:1/"
api_key = "ka"
[profiles.b]
url = "http://b:2"
"#;

    #[test]
    fn flags_beat_the_environment_which_beats_the_default_profile() {
        let f = file(TWO);
        let given = |url: Option<&str>| Given {
            url: url.map(String::from),
            env_url: Some("http://env:3".into()),
            config_path: Some(f.path().into()),
            ..Default::default()
        };
        assert_eq!(given(None).resolve().unwrap(), Target { url: "http://env:3".into(), api_key: "ka".into() });
        assert_eq!(given(Some("http://flag:4")).resolve().unwrap().url, "http://flag:4");
    }

    #[test]
    fn a_named_profile_beats_the_environment_and_missing_parts_fall_through() {
        let f = file(TWO);
        let g = Given {
            profile: Some("b".into()),
            env_url: Some("http://env:3".into()),
            env_api_key: Some("kenv".into()),
            config_path: Some(f.path().into()),
            ..Default::default()
        };
        assert_eq!(g.resolve().unwrap(), Target { url: "http://b:2".into(), api_key: "kenv".into() });
    }

    #[test]
    fn an_unknown_profile_a_bad_file_or_no_key_is_a_usage_error() {
        let f = file(TWO);
        let g = Given { profile: Some("c".into()), config_path: Some(f.path().into()), ..Default::default() };
        assert!(g.resolve().unwrap_err().0.contains("no profile `c`"));
        let bad = file("profiles = 3");
        assert!(Given { config_path: Some(bad.path().into()), ..Default::default() }.resolve().is_err());
        let none = Given { config_path: None, ..Default::default() }.resolve().unwrap_err();
        assert!(none.0.contains("no API key"), "{}", none.0);
        let g = Given { config_path: None, env_api_key: Some("k".into()), ..Default::default() };
        assert_eq!(g.resolve().unwrap().url, DEFAULT_URL);
    }
}
