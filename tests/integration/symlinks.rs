//! Integration tests for symlinks under the document root (issue 4): links that stay inside the root are
//! followed, links that leave it are refused with 403 (the kernel's `RESOLVE_BENEATH` decides, with or
//! without chroot), and `--no-symlinks` refuses every link.

use crate::support::*;

/// A root with real files, links that stay inside, links that escape, and broken links.
fn symlink_site(tag: &str) -> TempRoot {
    let site = TempRoot::new(tag);
    site.write("real.txt", b"the real file\n");
    site.write("sub/inner.txt", b"inner file\n");
    site.write("sub/index.html", b"sub index\n");
    site.symlink("link.txt", "real.txt");
    site.symlink("sub/uplink.txt", "../real.txt");
    site.symlink("dirlink", "sub");
    site.symlink("chain.txt", "link.txt");
    site.symlink("sub/index-link.html", "index.html");
    // Escaping links: relative climb, absolute path, a link to the parent directory, /proc magic.
    site.symlink("out.txt", "../secret.txt");
    let secret = site.secret().to_str().expect("utf-8 temp path").to_string();
    site.symlink("abs.txt", &secret);
    site.symlink("abs-inside.txt", site.path.join("real.txt").to_str().expect("utf-8"));
    site.symlink("updir", "..");
    site.symlink("sub/deep-out.txt", "../../secret.txt");
    site.symlink("etc-passwd", "/etc/passwd");
    site.symlink("magic", "/proc/self/root/etc/passwd");
    // Broken links.
    site.symlink("dangling.txt", "does-not-exist.txt");
    site.symlink("loop1", "loop2");
    site.symlink("loop2", "loop1");
    site
}

fn expect_body(server: &Server, target: &str, want: &[u8]) {
    let r = get(server.addr(), target);
    expect_status(&r, 200, target);
    assert_eq!(r.body, want, "{target}");
}

#[test]
fn symlinks_inside_the_root_are_followed() {
    let site = symlink_site("symlink-inside");
    let server = site.serve(&[]);
    expect_body(&server, "/link.txt", b"the real file\n");
    expect_body(&server, "/sub/uplink.txt", b"the real file\n");
    expect_body(&server, "/chain.txt", b"the real file\n");
    expect_body(&server, "/dirlink/inner.txt", b"inner file\n");
    expect_body(&server, "/dirlink/", b"sub index\n");
    expect_body(&server, "/sub/index-link.html", b"sub index\n");
    // A directory reached through a link still redirects when the slash is missing.
    let r = get(server.addr(), "/dirlink");
    expect_status(&r, 301, "/dirlink");
    assert_eq!(header(&r, "Location", "/dirlink"), "/dirlink/");
    // The link is served with the headers of a file (Content-Type from the requested name).
    let r = get(server.addr(), "/link.txt");
    assert_file_headers(&r, "/link.txt");
    assert_eq!(header(&r, "Content-Type", "/link.txt"), "text/plain; charset=utf-8");
    let h = fetch(server.addr(), "HEAD", "/link.txt", &[]);
    expect_status(&h, 200, "HEAD /link.txt");
    assert_eq!(content_length(&h, "HEAD /link.txt"), 14);
}

#[test]
fn symlinks_leaving_the_root_are_403() {
    let site = symlink_site("symlink-outside");
    let server = site.serve(&[]);
    for target in [
        "/out.txt",
        "/abs.txt",
        "/abs-inside.txt",
        "/updir/secret.txt",
        "/updir/root/real.txt",
        "/updir/",
        "/sub/deep-out.txt",
        "/dirlink/deep-out.txt",
        "/etc-passwd",
        "/magic",
    ] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {target}");
            let r = fetch(server.addr(), method, target, &[]);
            expect_status(&r, 403, &what);
            assert!(find(&r.body, b"root:").is_none(), "{what}: leaked /etc/passwd");
        }
        let r = fetch(server.addr(), "GET", target, &[("Range", "bytes=0-5")]);
        expect_status(&r, 403, &format!("ranged {target}"));
    }
}

#[test]
fn broken_and_looping_symlinks() {
    let site = symlink_site("symlink-broken");
    let server = site.serve(&[]);
    let r = get(server.addr(), "/dangling.txt");
    expect_status(&r, 404, "/dangling.txt");
    for target in ["/loop1", "/loop2"] {
        let r = get(server.addr(), target);
        expect_status(&r, 403, target);
    }
    // Still serving afterwards.
    expect_body(&server, "/real.txt", b"the real file\n");
}

#[test]
fn no_symlinks_refuses_every_symlink() {
    let site = symlink_site("symlink-refused");
    let server = site.serve(&["--no-symlinks"]);
    for target in [
        "/link.txt",
        "/sub/uplink.txt",
        "/chain.txt",
        "/dirlink/inner.txt",
        "/dirlink/",
        "/sub/index-link.html",
        "/out.txt",
        "/abs.txt",
        "/updir/secret.txt",
        "/etc-passwd",
        "/loop1",
    ] {
        for method in ["GET", "HEAD"] {
            let what = format!("{method} {target} --no-symlinks");
            let r = fetch(server.addr(), method, target, &[]);
            expect_status(&r, 403, &what);
            assert!(find(&r.body, b"the real file").is_none(), "{what}");
        }
    }
    // Plain files and directories are unaffected.
    expect_body(&server, "/real.txt", b"the real file\n");
    expect_body(&server, "/sub/inner.txt", b"inner file\n");
    expect_body(&server, "/sub/", b"sub index\n");
}

#[test]
fn directory_index_that_is_a_symlink() {
    let site = TempRoot::new("symlink-index");
    site.write("pages/home.html", b"home page\n");
    site.symlink("pages/index.html", "home.html");
    site.symlink("escape/index.html", "../../secret.txt");
    {
        let server = site.serve(&[]);
        expect_body(&server, "/pages/", b"home page\n");
        let r = get(server.addr(), "/escape/");
        expect_status(&r, 403, "/escape/ whose index leaves the root");
    }
    let server = site.serve(&["--no-symlinks"]);
    let r = get(server.addr(), "/pages/");
    expect_status(&r, 403, "/pages/ index symlink with --no-symlinks");
}
