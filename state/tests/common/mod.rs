//! A real `redis-server` for the tests: started on a free port of 127.0.0.1 with persistence off
//! (or AOF in a temp dir), waited for until it answers `PING`, killed on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A redis-server child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    aof_dir: Option<PathBuf>,
}

/// Whether the tests may skip Redis (`FAASM_SKIP_REDIS=1`).
fn skip_allowed() -> bool {
    std::env::var("FAASM_SKIP_REDIS").is_ok_and(|v| v == "1")
}

/// Whether `redis-server` can be run.
fn installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A started server, or `None` when redis-server is missing and `FAASM_SKIP_REDIS=1`. Panics
/// with instructions when it is missing otherwise.
pub fn redis_or_skip(test: &str) -> Option<RedisServer> {
    if !installed() {
        if skip_allowed() {
            eprintln!("{test}: redis-server not installed, skipped (FAASM_SKIP_REDIS=1)");
            return None;
        }
        panic!(
            "{test}: `redis-server` is not installed or not on PATH. Install it \
             (`apt-get install -y redis-server`; .ci/run does) or set FAASM_SKIP_REDIS=1 to skip \
             the Redis half of the state tests."
        );
    }
    Some(RedisServer::start(free_port(), None))
}

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "faasm-state-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

impl RedisServer {
    /// Starts redis-server on `port`; with `aof_dir`, with the append-only file on (fsync on
    /// every write) in that directory, else with no persistence at all.
    pub fn start(port: u16, aof_dir: Option<&Path>) -> RedisServer {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--unixsocket")
            .arg(unix_socket_path(port))
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--daemonize")
            .arg("no")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match aof_dir {
            Some(dir) => {
                cmd.arg("--appendonly")
                    .arg("yes")
                    .arg("--appendfsync")
                    .arg("always")
                    .arg("--dir")
                    .arg(dir);
            }
            None => {
                cmd.arg("--appendonly")
                    .arg("no")
                    .arg("--dir")
                    .arg(std::env::temp_dir());
            }
        }
        let child = cmd.spawn().expect("spawn redis-server");
        let mut server = RedisServer {
            child: Some(child),
            port,
            aof_dir: aof_dir.map(Path::to_path_buf),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if ping(self.port) {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("redis-server on port {} exited early: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 15 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `unix:///TMP/faasm-state-redis-PORT.sock`: the same server on its Unix socket.
    pub fn unix_url(&self) -> String {
        format!("unix://{}", unix_socket_path(self.port).display())
    }

    /// Kills the server with SIGKILL (no chance to save anything) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (and AOF dir, if any).
    pub fn restart(&mut self) {
        self.kill();
        let mut again = RedisServer::start(self.port, self.aof_dir.as_deref());
        // `again` drops with no child: ours is now the running one.
        std::mem::swap(&mut self.child, &mut again.child);
    }

    /// Runs one command given as its words (inline protocol is enough for FLUSHALL and the like).
    pub fn command(&self, words: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
            .write_all(format!("{words}\r\n").as_bytes())
            .expect("send");
        let mut reply = [0u8; 256];
        let n = stream.read(&mut reply).expect("reply");
        String::from_utf8_lossy(&reply[..n]).trim_end().to_owned()
    }
}

/// Where the server on `port` listens for Unix-socket clients too.
fn unix_socket_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("faasm-state-redis-{port}.sock"))
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 16];
    matches!(stream.read(&mut reply), Ok(n) if reply[..n].starts_with(b"+PONG"))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
