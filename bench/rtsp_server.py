"""An RTSP server for one video file, as a camera is one: `python3 bench/rtsp_server.py VIDEO.mkv PORT`
serves it at rtsp://127.0.0.1:PORT/x, from its start to each client that connects, in real time
(GStreamer's gst-rtsp-server). Run by Debian's python3 (python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-good; .ci/run installs them), not the project's virtualenv: PyGObject is
Debian's. The video: H.264 in Matroska (bench/synthetic_video.py makes it). FFmpeg, which the issue
named, cannot serve: its `-rtsp_flags listen` is its RTSP *input*'s, which waits for a publisher."""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main(video: str, port: int) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{video}" ! matroskademux ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    factory.set_shared(False)  # each client from the start
    server.get_mount_points().add_factory("/x", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print(f"rtsp://127.0.0.1:{port}/x", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
