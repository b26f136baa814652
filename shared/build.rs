//! Rebuilds the crate when a migration is added or changed: they are
//! embedded (`db::MIGRATIONS`), and Cargo does not watch that folder by
//! itself (diesel_migrations' advice).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
