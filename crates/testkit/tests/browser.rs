//! testkit::browser against a real headless Chromium: a two-page site on a loopback server
//! (a form whose submit goes to a greeting page, a cookie, a confirm dialog), driven through
//! every part of the client; then what the browser must not reach, and that nothing of it
//! survives the drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use berth_testkit::browser::{Browser, artifact_dir};
use serde_json::json;

const FORM: &str = r#"<!doctype html><html><head><title>Form</title></head><body>
<form action="/hello" method="get">
  <label for="name">Name</label> <input id="name" name="name" value="">
  <button id="go" type="submit">Go</button>
</form>
<button id="copy" data-copy="docker pull 127.0.0.1/team/app:1">Copy pull command</button>
<button id="danger" onclick="document.getElementById('answer').textContent = confirm('Delete everything?') ? 'yes' : 'no'">Delete</button>
<p id="answer"></p>
<ul><li>one</li><li>two</li><li>three</li></ul>
</body></html>"#;

/// Answers `GET /` with [`FORM`] (and a cookie), `GET /hello?name=N` with a greeting, and
/// anything else with 404; a thread a connection. Listens on every address, so that the test
/// can also try it by a non-loopback one. Returns the port.
fn serve() -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || answer(conn));
        }
    });
    port
}

fn answer(mut conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    // Chromium opens speculative connections it may never use.
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    let (status, extra, body) = match target.split_once('?').unwrap_or((&target, "")) {
        ("/", _) => ("200 OK", "Set-Cookie: s=1; HttpOnly; SameSite=Strict\r\n", FORM.to_owned()),
        ("/hello", query) => {
            let name = query.strip_prefix("name=").unwrap_or("nobody");
            let page = format!("<!doctype html><title>Hello</title><main><h1 id=\"greet\">Hello, {name}!</h1></main>");
            ("200 OK", "", page)
        }
        _ => ("404 Not Found", "", "not found".to_owned()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(body.as_bytes()));
}

/// Processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let procs = std::fs::read_dir("/proc").expect("/proc");
    procs
        .filter_map(Result::ok)
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[tokio::test]
async fn drives_a_real_chromium_through_a_form_a_cookie_and_a_dialog() {
    let started = Instant::now();
    let port = serve();
    let base = format!("http://127.0.0.1:{port}");
    let b = Browser::start().await;

    b.goto(&format!("{base}/")).await;
    assert_eq!(b.title().await, "Form");
    assert_eq!(b.current_url().await, format!("{base}/"));
    assert!(b.page_source().await.contains("Copy pull command"));
    assert_eq!(b.find("label[for=name]").await.text().await, "Name");
    assert_eq!(b.find_all("li").await.len(), 3);
    assert!(b.try_find("#absent").await.is_none());

    // Attributes as written; the clipboard's text is the copy button's data-copy.
    let copy = b.find("#copy").await;
    assert_eq!(copy.attr("data-copy").await.as_deref(), Some("docker pull 127.0.0.1/team/app:1"));
    assert_eq!(copy.attr("title").await, None);

    // The server's HttpOnly cookie, and one of ours.
    let cookies = b.cookies().await;
    let s = cookies.iter().find(|c| c.name == "s").unwrap_or_else(|| panic!("no cookie s in {cookies:?}"));
    assert_eq!(s.value, "1");
    assert!(s.http_only && !s.secure, "{s:?}");
    assert_eq!(s.same_site.as_deref(), Some("Strict"));
    assert_eq!(s.expiry, None, "a session cookie");
    b.add_cookie("t", "2").await;
    let t = b.cookies().await.into_iter().find(|c| c.name == "t").expect("cookie t");
    assert_eq!((t.value.as_str(), t.http_only), ("2", false));
    assert_eq!(b.execute("return document.cookie", vec![]).await, json!("t=2"), "s is HttpOnly");

    // Scripts, with values and elements as arguments.
    assert_eq!(b.execute("return arguments[0] + arguments[1]", vec![json!(2), json!(3)]).await, json!(5));
    let input = b.find("#name").await;
    assert_eq!(b.execute("return arguments[0].id", vec![input.arg()]).await, json!("name"));

    // A confirm dialog, accepted.
    b.find("#danger").await.click().await;
    assert_eq!(b.alert_text().await, "Delete everything?");
    b.accept_alert().await;
    b.wait_text("#answer", "yes").await;

    // Type (clear a mistake first), submit, land on the second page.
    input.send_keys("typo").await;
    input.clear().await;
    input.send_keys("Ada").await;
    assert_eq!(input.prop("value").await, json!("Ada"));
    b.find("#go").await.click().await;
    let greet = b.wait_text("#greet", "Hello, Ada!").await;
    assert_eq!(greet.text().await, "Hello, Ada!");
    assert_eq!(b.find("main").await.find("h1").await.attr("id").await.as_deref(), Some("greet"));
    assert_eq!(b.current_url().await, format!("{base}/hello?name=Ada"));
    assert_eq!(b.title().await, "Hello");

    let shot = artifact_dir().join("testkit-browser.png");
    let _ = std::fs::remove_file(&shot);
    b.screenshot(&shot).await;
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {:?}", &png[..8.min(png.len())]);

    b.delete_cookies().await;
    assert_eq!(b.cookies().await, vec![]);

    // Loopback by name too (Chromium's implicit bypass covers localhost).
    b.goto(&format!("http://localhost:{port}/hello?name=local")).await;
    b.wait_text("#greet", "Hello, local!").await;

    // Loopback only: the same server by this machine's non-loopback address goes to the dead
    // proxy, and so does a name (never resolved here).
    let outward = UdpSocket::bind("0.0.0.0:0").and_then(|u| u.connect("192.0.2.1:9").map(|()| u));
    match outward.and_then(|u| u.local_addr()) {
        Ok(addr) if !addr.ip().is_loopback() && !addr.ip().is_unspecified() => {
            let err =
                b.try_goto(&format!("http://{}:{port}/", addr.ip())).await.expect_err("reached a non-loopback address");
            assert!(err.contains("ERR_PROXY_CONNECTION_FAILED"), "{err}");
        }
        other => eprintln!("no non-loopback address ({other:?}): not checked"),
    }
    let err = b.try_goto("http://example.com/").await.expect_err("reached example.com");
    assert!(err.contains("ERR_PROXY_CONNECTION_FAILED"), "{err}");

    // Nothing survives the drop: no process names the temp dir (Chromium's profile is there,
    // and its crash handler's database, which is not in chromedriver's process group).
    let dir = b.dir().to_owned();
    let profile = format!("--user-data-dir={}/profile", dir.display());
    assert!(!processes_naming(&profile).is_empty(), "Chromium runs with its own profile");
    drop(b);
    assert_eq!(processes_naming(&format!("{}/", dir.display())), Vec::<String>::new(), "left running");
    assert!(!dir.exists(), "temp dir removed");

    let took = started.elapsed();
    eprintln!("browser test took {took:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}
