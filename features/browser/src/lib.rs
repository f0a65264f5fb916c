//! A real browser for the console's features: Debian's `chromium`, headless, driven over
//! WebDriver by `chromedriver` (both from apt; `scripts/test` installs them). Each
//! [`Browser`] is a fresh profile, so a scenario starts signed out with empty storage.
//!
//! Chromium runs with the flags this machine's closed network needs (no background
//! networking, no component updates, no sync): without them it spends its start trying
//! to reach Google's hosts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

use cynode_testkit::Service;

/// The chromedriver process all of a run's browsers share.
pub struct Driver {
    _service: Service,
    url: String,
}

impl Driver {
    /// Starts `chromedriver` on a free port and waits until it answers.
    pub fn start(logs: &Path) -> Result<Driver> {
        let program = which("chromedriver").context(
            "chromedriver is missing: apt-get install chromium chromium-driver (scripts/test does)",
        )?;
        which("chromium").context("chromium is missing: apt-get install chromium")?;
        let port = cynode_testkit::free_port();
        let mut service = Service::start(
            "chromedriver",
            &program,
            &[&format!("--port={port}")],
            &[],
            logs,
        )?;
        service.wait_until("to listen", Duration::from_secs(20), || {
            cynode_testkit::port_open(port)
        })?;
        Ok(Driver {
            _service: service,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A new headless browser window of `width`×`height` CSS pixels.
    pub async fn browser(&self, width: u32, height: u32) -> Result<Browser> {
        let profile = cynode_testkit::scratch_dir("chromium-profile");
        let args = serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ]);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": "/usr/bin/chromium", "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("starting a Chromium session through chromedriver")?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

fn which(program: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .with_context(|| format!("{program} is not on PATH"))
}

/// One browser window, and what steps do with it.
pub struct Browser {
    pub client: Client,
    _profile: PathBuf,
}

/// How long a step waits for the page to show what it expects.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

impl Browser {
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The first element `css` matches, once there is one (within [`PAGE_WAIT`]).
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.wait_for(css, PAGE_WAIT, |_| true).await
    }

    /// The first element matching `css` whose text satisfies `wanted`, within `within`.
    pub async fn wait_for(
        &self,
        css: &str,
        within: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Element> {
        let deadline = Instant::now() + within;
        loop {
            for element in self.client.find_all(Locator::Css(css)).await? {
                if let Ok(text) = element.text().await {
                    if wanted(&text) {
                        return Ok(element);
                    }
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no '{css}' showed what was expected within {within:?}; the page said:\n{}",
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element `css` whose text contains `text` (a button, a link, a row).
    pub async fn with_text(&self, css: &str, text: &str) -> Result<Element> {
        self.wait_for(css, PAGE_WAIT, |t| t.contains(text)).await
    }

    /// Types `value` into the field labelled `label` (its `<label>` text) or named
    /// `label` (its `name`).
    pub async fn fill(&self, name: &str, value: &str) -> Result<()> {
        let field = self.find(&format!("[name='{name}']")).await?;
        field.clear().await.ok();
        field.send_keys(value).await?;
        Ok(())
    }

    pub async fn click(&self, css: &str, text: &str) -> Result<()> {
        self.with_text(css, text).await?.click().await?;
        Ok(())
    }

    /// The whole page's visible text (for failure messages and assertions).
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(err) => format!("(no page: {err})"),
        }
    }

    /// Saves a PNG of the window under `dir` as `name.png`; its path.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Accepts the page's `window.confirm` dialogs from now on (destructive buttons ask).
    pub async fn accept_confirmations(&self) -> Result<()> {
        self.client
            .execute("window.confirm = () => true;", vec![])
            .await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
