//! The chat page as served, read as text: its size limit, the one inline script its Content-Security-Policy
//! allows by hash, and the rules that keep it to itself (nothing from another site, no inline handlers, nothing
//! from the network inserted as HTML). What the page does is tested in a browser: tests/browser/chat.test.mjs.

mod common;

use common::TestServer;
use common::ws::http_get;

/// The most the page may weigh, in bytes (the issue: at most 40 KB).
const MAX_PAGE_BYTES: usize = 40 * 1024;

/// The page's response, split into its head and body.
fn served_page() -> (String, String) {
    let server = TestServer::start(&["--web-listen", "127.0.0.1:0"]);
    let addr = server.web_addr.expect("a web listener");
    let response = http_get(addr, &format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n"));
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    (head.to_owned(), body.to_owned())
}

/// Standard base64 with padding, as the policy writes hashes.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]) } else { '=' });
        }
    }
    out
}

#[test]
fn the_page_weighs_at_most_40_kb() {
    let (_, body) = served_page();
    assert!(body.len() <= MAX_PAGE_BYTES, "the page is {} bytes, over {MAX_PAGE_BYTES}", body.len());
}

#[test]
fn the_one_inline_script_is_the_one_the_policy_allows() {
    let (head, body) = served_page();
    assert_eq!(body.matches("<script").count(), 1, "one script element");
    assert_eq!(body.matches("</script>").count(), 1, "one script element");
    let (_, rest) = body.split_once("<script>").expect("a script element without attributes");
    let (script, _) = rest.split_once("</script>").expect("the script's end");
    let hash = ring::digest::digest(&ring::digest::SHA256, script.as_bytes());
    let allowed = format!("script-src 'sha256-{}'", base64(hash.as_ref()));
    assert!(head.contains(&allowed), "the policy allows this script: {allowed}\n{head}");
}

#[test]
fn the_page_loads_nothing_from_elsewhere_and_has_no_inline_handlers() {
    let (_, body) = served_page();
    let (before, rest) = body.split_once("<script>").expect("a script");
    let (_, after) = rest.split_once("</script>").expect("the script's end");
    let markup = format!("{before}{after}");
    for scheme in ["http:", "https:", "//"] {
        for attribute in ["src=\"", "href=\""] {
            assert!(!markup.contains(&format!("{attribute}{scheme}")), "{attribute}{scheme} in the markup");
        }
    }
    assert!(!markup.contains("@import") && !markup.contains("url("), "the style loads nothing");
    // An attribute like onclick= would be refused by the policy, and is code where none belongs.
    let lower = markup.to_ascii_lowercase();
    for (at, _) in lower.match_indices(" on") {
        let name: String = lower[at + 3..].chars().take_while(char::is_ascii_alphabetic).collect();
        assert!(
            !lower[at + 3 + name.len()..].starts_with('='),
            "an inline event handler: on{name}= in {:?}",
            &markup[at..(at + 40).min(markup.len())]
        );
    }
}

#[test]
fn the_script_never_turns_text_into_html() {
    let (_, body) = served_page();
    let (_, rest) = body.split_once("<script>").expect("a script");
    let (script, _) = rest.split_once("</script>").expect("the script's end");
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(", "DOMParser"] {
        assert!(!script.contains(sink), "the script uses {sink}");
    }
}
