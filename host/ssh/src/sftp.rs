//! (slot: being written) The `sftp` subsystem.

use crate::connect::ConnCtx;
use russh::Channel;
use russh::server::Msg;

/// Serves SFTP on `channel`.
pub(crate) async fn serve(_ctx: &ConnCtx, channel: Channel<Msg>) {
    let _ = channel.close().await;
}
