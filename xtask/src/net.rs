//! Loopback plumbing the tasks share: a background service that is killed when dropped, free ports,
//! one-shot HTTP exchanges, and Python virtual environments.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the backend when dropped, so it never outlives the task.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts `cmd` with its output in `log`, then waits until `GET http://{addr}{health}` answers
    /// 200; fails with the log's tail if the program exits or `limit` passes first.
    pub(crate) fn start(
        mut cmd: Command,
        what: &str,
        log: PathBuf,
        addr: &str,
        health: &str,
        limit: Duration,
    ) -> Result<Service, String> {
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let mut service = Service { child, log };
        let deadline = Instant::now() + limit;
        while http_status(addr, health) != Some(200) {
            if let Ok(Some(status)) = service.child.try_wait() {
                return Err(format!("{what} exited ({status}):\n{}", service.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what} not ready after {} s:\n{}",
                    limit.as_secs(),
                    service.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(service)
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

pub(crate) fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

pub(crate) fn http_status(addr: &str, path: &str) -> Option<u16> {
    http_exchange(addr, "GET", path, Duration::from_secs(5))
        .ok()
        .map(|(status, _)| status)
}

/// One HTTP/1.1 request on loopback (`Connection: close`): the status and the body.
pub(crate) fn http_exchange(
    addr: &str,
    method: &str,
    path: &str,
    read_limit: Duration,
) -> Result<(u16, String), String> {
    let parsed = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = TcpStream::connect_timeout(&parsed, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(read_limit))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} {path}: not an HTTP answer: {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

/// A Python venv under `dir/name` with `pip install <packages>` done once (a marker file says so).
pub(crate) fn python_venv(dir: &Path, name: &str, packages: &[String]) -> Result<PathBuf, String> {
    let venv = dir.join(name);
    let marker = venv.join(".aitrace-installed");
    if marker.exists() {
        return Ok(venv);
    }
    println!(
        "==> installing {} into {}",
        packages.join(" "),
        venv.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let ok = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?
        .success();
    if !ok {
        return Err(format!("{python} -m venv failed"));
    }
    let ok = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?
        .success();
    if !ok {
        let _ = std::fs::remove_dir_all(&venv);
        return Err(format!("pip install {} failed", packages.join(" ")));
    }
    std::fs::write(&marker, packages.join("\n")).map_err(|e| e.to_string())?;
    Ok(venv)
}

/// A request that must answer 200; the response body.
pub(crate) fn http_request(addr: &str, method: &str, path: &str) -> Result<String, String> {
    match http_exchange(addr, method, path, Duration::from_secs(30))? {
        (200, body) => Ok(body),
        (status, body) => Err(format!("{method} {path}: {status} {body}")),
    }
}

/// The number after `"key":` in a flat JSON object (xtask has no dependencies).
pub(crate) fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}
