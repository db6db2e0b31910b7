//! Write-behind for uploads through the gateway's `sftp` subsystem.
//!
//! The server loop of `russh-sftp` answers one client request at a time. Proxying a WRITE one
//! for one would make every write wait a full round trip to the asset before the next one is
//! even read, so an upload would move one request's worth of bytes per round trip whatever
//! the client pipelines. Instead a WRITE is *sent* to the asset at once and answered `OK` to
//! the client right away; the asset's answers are collected behind it, with at most
//! [`MAX_REQUESTS`] requests and [`MAX_BYTES`] bytes outstanding per open file (the next WRITE
//! waits for the oldest answers when either bound is reached), so memory stays bounded.
//!
//! Order: each write's request leaves in the order the client sent it (it is sent before the
//! WRITE is answered), and the asset's SFTP server handles one handle's requests in the order
//! it receives them, so overlapping writes, and a READ, FSTAT or CLOSE after them, see what the
//! client wrote before.
//!
//! Failure: an asset's refusal of a write already answered `OK` surfaces at the client's next
//! WRITE on that handle or at its CLOSE (a failed CLOSE is how OpenSSH's `sftp` and `scp`
//! learn that an upload did not complete), and the upload is logged as failed. This is the one
//! difference from proxying one for one, where the failing WRITE itself is refused.

use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as RemoteError;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Writes one open file may have outstanding on the asset. OpenSSH's `sftp` keeps 64
/// requests in flight by default; matching it keeps the pipe to the asset as full as the
/// client's.
pub(crate) const MAX_REQUESTS: usize = 64;
/// Bytes one open file may have outstanding on the asset.
pub(crate) const MAX_BYTES: usize = 4 * 1024 * 1024;

type Pending = Pin<Box<dyn Future<Output = Result<(), RemoteError>> + Send>>;

/// The writes of one open file that the asset has not answered yet (see the module docs).
#[derive(Default)]
pub(crate) struct WriteBehind {
    queue: VecDeque<(usize, Pending)>,
    bytes: usize,
    /// The first failure the asset reported; every later write and the close report it.
    failed: Option<RemoteError>,
}

impl WriteBehind {
    /// Sends a write of `data` at `offset` on the asset's `handle` now and returns without
    /// waiting for its answer, unless the window is full; then it waits for the oldest. The
    /// error is the first failure seen on this file so far, this write's or an earlier one's.
    pub(crate) async fn write(
        &mut self,
        sftp: &Arc<RawSftpSession>,
        handle: &str,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), RemoteError> {
        self.check()?;
        let len = data.len();
        let (s, h) = (Arc::clone(sftp), handle.to_owned());
        let mut pending: Pending =
            Box::pin(async move { s.write(h, offset, data).await.map(drop) });
        // The first poll puts the request on the wire (the client session sends before it
        // first waits), so requests leave in the order the client sent them.
        match pending
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(r) => self.settle(r),
            Poll::Pending => {
                self.queue.push_back((len, pending));
                self.bytes += len;
            }
        }
        self.reap();
        while self.queue.len() > MAX_REQUESTS || self.bytes > MAX_BYTES {
            self.wait_oldest().await;
        }
        self.check()
    }

    /// Waits for every outstanding write; the first failure seen on this file, if any.
    pub(crate) async fn flush(&mut self) -> Result<(), RemoteError> {
        while !self.queue.is_empty() {
            self.wait_oldest().await;
        }
        self.check()
    }

    /// Writes not answered yet.
    #[cfg(test)]
    fn outstanding(&self) -> usize {
        self.queue.len()
    }

    fn check(&self) -> Result<(), RemoteError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn settle(&mut self, r: Result<(), RemoteError>) {
        if let Err(e) = r
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }

    /// Takes the answers that have arrived at the front of the queue, without waiting.
    fn reap(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        while let Some((len, front)) = self.queue.front_mut() {
            let len = *len;
            match front.as_mut().poll(&mut cx) {
                Poll::Ready(r) => {
                    self.queue.pop_front();
                    self.bytes -= len;
                    self.settle(r);
                }
                Poll::Pending => break,
            }
        }
    }

    async fn wait_oldest(&mut self) {
        if let Some((len, pending)) = self.queue.pop_front() {
            self.bytes -= len;
            let r = pending.await;
            self.settle(r);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against OpenSSH's own `sftp-server`, spoken to over its standard input and output.
    use super::*;
    use russh_sftp::protocol::{FileAttributes, OpenFlags};
    use std::process::Stdio;

    const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

    struct Server {
        child: tokio::process::Child,
        sftp: Arc<RawSftpSession>,
    }

    async fn server() -> Server {
        let mut child = tokio::process::Command::new(SFTP_SERVER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("OpenSSH's sftp-server (apt-get install openssh-server)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let sftp = RawSftpSession::new(tokio::io::join(stdout, stdin));
        sftp.set_timeout(30);
        sftp.init().await.expect("init");
        Server {
            child,
            sftp: Arc::new(sftp),
        }
    }

    async fn open(s: &Server, path: &str, flags: OpenFlags) -> String {
        s.sftp
            .open(path, flags, FileAttributes::default())
            .await
            .expect("open")
            .handle
    }

    // Several worker threads, as the gateway runs: a write sent from a spawned task could
    // overtake an earlier one there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_land_in_the_clients_order_with_bounded_outstanding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let path = path.to_str().unwrap();
        let s = server().await;
        let h = open(
            &s,
            path,
            OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::TRUNCATE,
        )
        .await;
        let mut wb = WriteBehind::default();
        // 600 overlapping writes of 1 KiB, each 512 bytes after the last and filled with its
        // number: the file is right only if each landed after the one before it.
        let mut want = Vec::new();
        for i in 0..600u32 {
            let at = u64::from(i) * 512;
            let fill = vec![(i % 251) as u8; 1024];
            want.truncate(at as usize);
            want.extend_from_slice(&fill);
            wb.write(&s.sftp, &h, at, fill).await.unwrap();
            assert!(wb.outstanding() <= MAX_REQUESTS);
        }
        wb.flush().await.unwrap();
        assert_eq!(wb.outstanding(), 0);
        s.sftp.close(h).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), want);
        drop(s.child);
    }

    #[tokio::test]
    async fn a_refused_write_fails_the_later_writes_and_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        std::fs::write(&path, b"old").unwrap();
        let s = server().await;
        // Opened for reading only: the asset refuses every write on it.
        let h = open(&s, path.to_str().unwrap(), OpenFlags::READ).await;
        let mut wb = WriteBehind::default();
        let first = wb.write(&s.sftp, &h, 0, b"new".to_vec()).await;
        let flushed = wb.flush().await;
        assert!(first.is_err() || flushed.is_err(), "{first:?} {flushed:?}");
        assert!(
            matches!(flushed, Err(RemoteError::Status(_))),
            "{flushed:?}"
        );
        assert!(wb.write(&s.sftp, &h, 3, b"x".to_vec()).await.is_err());
        s.sftp.close(h).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        drop(s.child);
    }
}
