//! Giving up root: the user to become, looked up while /etc/passwd is still reachable, and the one-way
//! sequence a worker runs before it touches a client (chroot, groups, gid, uid, no new privileges).

use std::io;
use std::path::Path;

use nix::sys::prctl;
use nix::unistd::{self, Gid, Uid, User};

/// A user's numeric ids, looked up before anything forks (the chrooted worker has no /etc/passwd).
#[derive(Debug, Clone, Copy)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
}

/// Looks a user name up in the passwd database; Ok(None) when there is no such user.
pub fn lookup_user(name: &str) -> io::Result<Option<UserIds>> {
    // nix would report a name with a NUL as an unknown user; it is a malformed one.
    if name.contains('\0') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(User::from_name(name)?.map(|u| UserIds { uid: u.uid.as_raw(), gid: u.gid.as_raw() }))
}

/// Confines this process to `root` (chroot + chdir) when asked, then gives up root for good: supplementary
/// groups cleared, gid and uid set, no new privileges, and a check that regaining root now fails.
pub fn drop_privileges(chroot_to: Option<&Path>, user: UserIds) -> io::Result<()> {
    if let Some(dir) = chroot_to {
        unistd::chroot(dir)?;
        unistd::chdir("/")?;
    }
    unistd::setgroups(&[])?;
    unistd::setgid(Gid::from_raw(user.gid))?;
    unistd::setuid(Uid::from_raw(user.uid))?;
    prctl::set_no_new_privs()?;
    if user.uid != 0 && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, "setuid(0) succeeded after dropping root"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_users() {
        let root = lookup_user("root").unwrap().expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(lookup_user("no-such-user-staticd").unwrap().is_none());
        assert_eq!(lookup_user("ro\0ot").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
