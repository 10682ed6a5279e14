//! Local users the root-only tests switch to (`nobody`, `daemon`), looked up the way the tests need: from
//! /etc/passwd directly, so the answer does not depend on an NSS setup.

use std::fs;

/// uid and gid of a user from /etc/passwd (no NSS needed for `nobody`).
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}
