//! Driving Debian's chromium over the DevTools protocol (headless_chrome) for the field app:
//! a phone-sized tab, waiting on the page's own state, typing, offline, screenshots.

use crate::helpers::{Served, agent, serve_demo};
use headless_chrome::protocol::cdp::{Emulation, Network, Page};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use truetrace::cli::demo::Summary;

pub const PHONE_WIDTH: u32 = 390;
const PHONE_HEIGHT: u32 = 844;

/// The chromium binary, or None (the browser tests then say they skip).
pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .and_then(which)
}

fn which(command: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(command))
            .find(|p| p.is_file())
    })
}

/// A headless chromium with its own profile; `camera` is a Y4M file its fake camera plays.
pub fn launch(binary: &Path, profile: &Path, camera: Option<&Path>) -> Browser {
    let camera_arg = camera.map(|c| format!("--use-file-for-fake-video-capture={}", c.display()));
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("--use-fake-device-for-media-stream"),
        OsStr::new("--use-fake-ui-for-media-stream"),
        OsStr::new("--disable-quic"),
        OsStr::new("--hide-scrollbars"),
    ];
    if let Some(arg) = &camera_arg {
        args.push(OsStr::new(arg));
    }
    Browser::new(LaunchOptions {
        headless: true,
        sandbox: false,
        path: Some(binary.to_owned()),
        user_data_dir: Some(profile.to_owned()),
        window_size: Some((PHONE_WIDTH, PHONE_HEIGHT)),
        idle_browser_timeout: Duration::from_secs(180),
        args,
        ..LaunchOptions::default()
    })
    .expect("chromium starts")
}

/// A new tab sized as a phone (390 px wide, touch, device pixel ratio 2).
pub fn phone_tab(browser: &Browser) -> Arc<Tab> {
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(20));
    resize(&tab, PHONE_WIDTH, PHONE_HEIGHT, true);
    // Less motion, as a person may ask: the page scrolls at once, so a tap lands where aimed.
    tab.call_method(Emulation::SetEmulatedMedia {
        media: None,
        features: Some(vec![Emulation::MediaFeature {
            name: "prefers-reduced-motion".into(),
            value: "reduce".into(),
        }]),
    })
    .expect("reduced motion");
    tab
}

/// The tab as a desktop browser's window, 1280 px wide.
pub fn desktop(tab: &Tab) {
    resize(tab, 1280, 900, false);
}

pub fn resize(tab: &Tab, width: u32, height: u32, mobile: bool) {
    tab.call_method(Emulation::SetDeviceMetricsOverride {
        width,
        height,
        device_scale_factor: if mobile { 2.0 } else { 1.0 },
        mobile,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .expect("screen metrics");
}

pub fn goto(tab: &Tab, url: &str) {
    tab.navigate_to(url)
        .and_then(|t| t.wait_until_navigated())
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
}

/// Evaluates JavaScript (awaiting a promise) and gives its JSON value.
pub fn eval(tab: &Tab, script: &str) -> serde_json::Value {
    let wrapped = format!(
        "(async () => {{ return JSON.stringify(await (async () => {{ {script} }})()); }})()"
    );
    let result = tab
        .evaluate(&wrapped, true)
        .unwrap_or_else(|e| panic!("evaluate {script}: {e}"));
    match result.value {
        Some(serde_json::Value::String(json)) => serde_json::from_str(&json).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// Waits until `condition` (a JavaScript expression) is true; panics with `what` and the page's
/// text after the timeout.
pub fn wait_until(tab: &Tab, condition: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        if eval(tab, &format!("return Boolean({condition});")) == serde_json::Value::Bool(true) {
            return;
        }
        if Instant::now() > deadline {
            let text = eval(tab, "return document.body ? document.body.innerText : '';");
            panic!("timed out waiting for {what} ({condition}); the page says:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Taps the element: scrolled to the middle of the screen, then a real mouse press and release
/// at its centre (so the page sees trusted input, as from a finger).
pub fn click(tab: &Tab, selector: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let centre = loop {
        let found = eval(
            tab,
            &format!(
                "const e = document.querySelector({s});
                 if (!e || e.offsetParent === null) return null;
                 e.scrollIntoView({{block: 'center', inline: 'center', behavior: 'instant'}});
                 const r = e.getBoundingClientRect();
                 return [r.left + r.width / 2, r.top + r.height / 2];",
                s = serde_json::to_string(selector).unwrap()
            ),
        );
        if let (Some(x), Some(y)) = (found[0].as_f64(), found[1].as_f64()) {
            break headless_chrome::browser::tab::point::Point { x, y };
        }
        assert!(Instant::now() < deadline, "no visible {selector} to tap");
        std::thread::sleep(Duration::from_millis(100));
    };
    tab.click_point(centre)
        .unwrap_or_else(|e| panic!("tap {selector}: {e}"));
}

/// Types into an input as a phone's keyboard commits text (one insertText, an input event),
/// after tapping it and clearing what it held. The input is focused explicitly too: a tap can
/// land beside it while the page is still scrolling smoothly.
pub fn fill(tab: &Tab, selector: &str, value: &str) {
    click(tab, selector);
    let s = serde_json::to_string(selector).unwrap();
    eval(
        tab,
        &format!("const e = document.querySelector({s}); e.focus(); e.value = ''; return true;"),
    );
    tab.send_character(value)
        .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    let typed = eval(tab, &format!("return document.querySelector({s}).value;"));
    assert_eq!(
        typed,
        serde_json::Value::from(value),
        "what {selector} holds"
    );
}

pub fn select(tab: &Tab, selector: &str, value: &str) {
    let done = eval(
        tab,
        &format!(
            "const e = document.querySelector({s}); if (!e) return false; e.value = {v}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return e.value === {v};",
            s = serde_json::to_string(selector).unwrap(),
            v = serde_json::to_string(value).unwrap()
        ),
    );
    assert_eq!(
        done,
        serde_json::Value::Bool(true),
        "select {value} in {selector}"
    );
}

pub fn text(tab: &Tab, selector: &str) -> String {
    eval(
        tab,
        &format!(
            "const e = document.querySelector({s}); return e ? e.innerText : null;",
            s = serde_json::to_string(selector).unwrap()
        ),
    )
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Cuts the tab off the network (as a phone in a field without signal) or reconnects it.
pub fn set_offline(tab: &Tab, offline: bool) {
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .expect("network domain");
    tab.call_method(Network::EmulateNetworkConditions {
        offline,
        latency: 0.0,
        download_throughput: -1.0,
        upload_throughput: -1.0,
        connection_Type: None,
        packet_loss: None,
        packet_queue_length: None,
        packet_reordering: None,
    })
    .expect("network conditions");
}

/// A screenshot of the whole page (not only the viewport) into `dir/name.png`; its size in bytes.
pub fn full_page_screenshot(tab: &Tab, dir: &Path, name: &str) -> u64 {
    let size = eval(
        tab,
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
    );
    let (width, height) = (
        size[0].as_f64().unwrap_or(f64::from(PHONE_WIDTH)),
        size[1].as_f64().unwrap_or(f64::from(PHONE_HEIGHT)),
    );
    let shot = tab
        .call_method(Page::CaptureScreenshot {
            format: Some(Page::CaptureScreenshotFormatOption::Png),
            quality: None,
            clip: Some(Page::Viewport {
                x: 0.0,
                y: 0.0,
                width,
                height,
                scale: 1.0,
            }),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: None,
        })
        .expect("screenshot");
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.data)
        .expect("screenshot is base64");
    std::fs::write(dir.join(format!("{name}.png")), &png).expect("write the screenshot");
    png.len() as u64
}

/// Logs in through the login form and lands on `next`.
pub fn login(tab: &Tab, base: &str, email: &str, password: &str, next: &str) {
    goto(tab, &format!("{base}/login?next={next}"));
    fill(tab, "input[name=email]", email);
    fill(tab, "input[name=password]", password);
    click(tab, "form button[type=submit]");
    wait_until(
        tab,
        &format!(
            "location.pathname === {}",
            serde_json::to_string(next).unwrap()
        ),
        "the login to land",
    );
}

/// A short YUV4MPEG2 video (640x480, grey background) showing the QR code of `text`, for
/// Chromium's fake camera (`--use-file-for-fake-video-capture`), which plays it in a loop.
pub fn qr_video(text: &str, path: &Path) {
    const WIDTH: usize = 640;
    const HEIGHT: usize = 480;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .expect("the text fits a QR code");
    let modules = code.width();
    let colors = code.to_colors();
    // Four modules of quiet zone on each side, the code filling most of the frame's height.
    let scale = (HEIGHT * 9 / 10) / (modules + 8);
    let side = scale * (modules + 8);
    let (left, top) = ((WIDTH - side) / 2, (HEIGHT - side) / 2);
    let mut luma = vec![150u8; WIDTH * HEIGHT];
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = ((x / scale) as isize - 4, (y / scale) as isize - 4);
            let dark = (0..modules as isize).contains(&mx)
                && (0..modules as isize).contains(&my)
                && colors[my as usize * modules + mx as usize] == qrcode::Color::Dark;
            luma[(top + y) * WIDTH + left + x] = if dark { 16 } else { 235 };
        }
    }
    let chroma = vec![128u8; (WIDTH / 2) * (HEIGHT / 2)];
    let file = std::fs::File::create(path).expect("create the video");
    let mut encoder = y4m::encode(WIDTH, HEIGHT, y4m::Ratio::new(10, 1))
        .with_colorspace(y4m::Colorspace::C420jpeg)
        .write_header(std::io::BufWriter::new(file))
        .expect("video header");
    for _ in 0..10 {
        encoder
            .write_frame(&y4m::Frame::new([&luma, &chroma, &chroma], None))
            .expect("a video frame");
    }
}

/// A TCP relay in front of the server that can be switched off: a phone that goes through it
/// loses its network for real (connections refused and cut), not only in the page's eyes.
pub struct Relay {
    pub base: String,
    offline: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    pub fn start(server: &str) -> Self {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let target = server.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let offline = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Arc<std::sync::Mutex<Vec<TcpStream>>> = Arc::default();
        let (cut, tracked) = (offline.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
                if let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) {
                    tracked
                        .lock()
                        .unwrap()
                        .extend([c2.try_clone().unwrap(), u2.try_clone().unwrap()]);
                    pipe(client, u2);
                    pipe(upstream, c2);
                }
            }
        });
        Self {
            base,
            offline,
            open,
        }
    }

    /// Off: new connections are refused and every open one is cut. On: connections go through.
    pub fn set_offline(&self, offline: bool) {
        self.offline
            .store(offline, std::sync::atomic::Ordering::SeqCst);
        if offline {
            for stream in self.open.lock().unwrap().drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// The demo story on a server of its own, for a test that drives browsers over it.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub base: Served,
    pub summary: Summary,
    pub shots: PathBuf,
    pub binary: PathBuf,
    pub agent: ureq::Agent,
    /// What this test's screenshots are named with: `{prefix}-{name}.png`.
    prefix: &'static str,
}

impl Demo {
    pub fn start(prefix: &'static str) -> Option<Self> {
        let Some(binary) = chromium() else {
            eprintln!(
                "note: {prefix} browser test skipped: no chromium on PATH (apt-get install chromium)"
            );
            return None;
        };
        let (dir, base, summary) = serve_demo();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Some(Self {
            dir,
            base,
            summary,
            shots,
            binary,
            agent: agent(),
            prefix,
        })
    }

    /// The demo login of the organization whose name contains `who`.
    pub fn account(&self, who: &str) -> (String, String) {
        let (_, email, password) = self
            .summary
            .accounts
            .iter()
            .find(|(org, _, _)| org.contains(who))
            .unwrap_or_else(|| panic!("a demo account for {who}"));
        (email.clone(), password.clone())
    }

    pub fn org_id(&self, who: &str) -> String {
        self.summary
            .orgs
            .iter()
            .find(|(name, _)| name.contains(who))
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("a demo organization {who}"))
    }

    /// A phone: its own browser profile, optionally a fake camera showing `camera`.
    pub fn phone(&self, name: &str, camera: Option<&Path>) -> headless_chrome::Browser {
        launch(
            &self.binary,
            &self.dir.path().join(format!("profile-{name}")),
            camera,
        )
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// The record at the head of a lot, as the API gives it.
    pub fn head_record(&self, gtin: &str, lot: &str) -> Value {
        let (status, found) = self.get(&format!("/api/v1/lots/{gtin}/{lot}"));
        assert_eq!(status, 200, "lot {lot}: {found}");
        let head = found["head"].as_str().unwrap().to_owned();
        let (status, record) = self.get(&format!("/api/v1/records/{head}"));
        assert_eq!(status, 200);
        record
    }

    pub fn log_size(&self) -> i64 {
        self.get("/api/v1/log").1["size"].as_i64().unwrap()
    }

    pub fn shot(&self, tab: &Tab, name: &str) {
        let bytes = full_page_screenshot(tab, &self.shots, &format!("{}-{name}", self.prefix));
        assert!(
            bytes > 8_000,
            "screenshot {name} is a real page ({bytes} bytes)"
        );
    }
}

/// Serves `html` at every path of a new local origin (another port: another origin than the
/// truetrace server's, as a brand's shop is), for as long as the test runs; its base URL.
pub fn serve_html(html: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    base
}
