//! API key roles: `admin` manages keys and runs admin-only kinds, `user`
//! submits and controls jobs, `viewer` only reads.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Viewer, Self::User, Self::Admin].into_iter().find(|r| r.as_str() == s)
    }
    /// Whether this role may do what `needed` may do (admin ⊇ user ⊇ viewer).
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin.allows(Role::User));
        assert!(Role::User.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::User));
        assert!(!Role::User.allows(Role::Admin));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
