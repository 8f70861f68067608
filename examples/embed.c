/* Embedding posebatch in a C application with GStreamer only (no posebatch header or
 * library to link): a video through posebatch into an appsink, each frame's PoseMeta read
 * with gst_buffer_get_custom_meta (buf, "PoseMeta") and its GBytes arrays; stream 0 paused
 * and resumed with the pause-stream / resume-stream action signals on the way.
 *
 *   make embed-c      (or: cc -O2 -o embed-c examples/embed.c \
 *                          $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-app-1.0))
 *   GST_PLUGIN_PATH=target/release target/embed-c VIDEO [FRAMES]
 *
 * (GST_PLUGIN_PATH is not needed once `make install` has run.) FRAMES defaults to 30.
 * Exits 1 when it saw no people, 2 on an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

/* One float of a GBytes of little-endian f32 (every machine GStreamer runs on today is
 * little-endian; GFLOAT_FROM_LE would be the portable spelling). */
static float
f32_at (GBytes * bytes, gsize index)
{
  gsize size;
  const float *data = g_bytes_get_data (bytes, &size);
  return index < size / sizeof (float) ? data[index] : 0.0f;
}

/* One track ID of a GBytes of little-endian u64 (0 when out of range: not tracked). */
static guint64
u64_at (GBytes * bytes, gsize index)
{
  gsize size;
  const guint64 *data = bytes ? g_bytes_get_data (bytes, &size) : NULL;
  return data && index < size / sizeof (guint64) ? GUINT64_FROM_LE (data[index]) : 0;
}

/* Prints the frame's people; returns how many there were, -1 without PoseMeta. */
static int
read_poses (GstBuffer * buffer, guint frame, gboolean detail)
{
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buffer, "PoseMeta");
  if (meta == NULL)
    return -1;
  GstStructure *s = gst_custom_meta_get_structure (meta);
  guint n = 0, k = 0;
  gst_structure_get_uint (s, "num-poses", &n);
  gst_structure_get_uint (s, "num-keypoints", &k);
  GBytes *boxes = g_value_get_boxed (gst_structure_get_value (s, "boxes"));
  GBytes *scores = g_value_get_boxed (gst_structure_get_value (s, "scores"));
  GBytes *keypoints = g_value_get_boxed (gst_structure_get_value (s, "keypoints"));
  const GValue *ids_value = gst_structure_get_value (s, "track-ids");
  GBytes *track_ids = ids_value ? g_value_get_boxed (ids_value) : NULL;
  if (boxes == NULL || scores == NULL || keypoints == NULL)
    return -1;

  printf ("frame %u: %u people\n", frame, n);
  for (guint i = 0; detail && i < n; i++) {
    /* keypoints: n x k x (x, y, confidence); keypoint 0 is the nose. */
    gsize nose = (gsize) i * k * 3;
    printf ("  person %u (track %" G_GUINT64_FORMAT "): score %.2f, box [%.0f, %.0f, %.0f, %.0f], "
        "nose at (%.0f, %.0f) conf %.2f\n",
        i, u64_at (track_ids, i), f32_at (scores, i), f32_at (boxes, 4 * i), f32_at (boxes, 4 * i + 1),
        f32_at (boxes, 4 * i + 2), f32_at (boxes, 4 * i + 3),
        f32_at (keypoints, nose), f32_at (keypoints, nose + 1), f32_at (keypoints, nose + 2));
  }
  return (int) n;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc < 2) {
    fprintf (stderr, "usage: %s VIDEO [FRAMES]\n", argv[0]);
    return 2;
  }
  guint max_frames = argc > 2 ? (guint) atoi (argv[2]) : 30;

  gchar *location = g_strescape (argv[1], NULL);
  gchar *description = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert "
      "! posebatch name=p ! appsink name=sink sync=false", location);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  g_free (description);
  g_free (location);
  if (pipeline == NULL || error != NULL) {
    fprintf (stderr, "embed-c: %s (is the plugin on GST_PLUGIN_PATH?)\n",
        error ? error->message : "no pipeline");
    return 2;
  }
  GstElement *posebatch = gst_bin_get_by_name (GST_BIN (pipeline), "p");
  GstAppSink *sink = GST_APP_SINK (gst_bin_get_by_name (GST_BIN (pipeline), "sink"));
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  guint frames = 0, people = 0;
  int status = 0;
  while (frames < max_frames) {
    GstSample *sample = gst_app_sink_try_pull_sample (sink, 30 * GST_SECOND);
    if (sample == NULL)
      break;                    /* EOS, or an error (below) */
    int found = read_poses (gst_sample_get_buffer (sample), frames, frames < 2);
    gst_sample_unref (sample);
    frames++;
    if (found > 0)
      people += (guint) found;

    if (frames == 10) {
      gboolean paused = FALSE, resumed = FALSE;
      g_signal_emit_by_name (posebatch, "pause-stream", 0u, &paused);
      /* Frames that had already left posebatch still arrive. */
      while ((sample = gst_app_sink_try_pull_sample (sink, 300 * GST_MSECOND)) != NULL) {
        gst_sample_unref (sample);
        frames++;
      }
      g_signal_emit_by_name (posebatch, "resume-stream", 0u, &resumed);
      printf ("pause-stream(0) -> %d, resume-stream(0) -> %d\n", paused, resumed);
      if (!paused || !resumed) {
        status = 2;
        break;
      }
    }
  }

  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (msg != NULL) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    fprintf (stderr, "embed-c: %s\n", err->message);
    g_error_free (err);
    gst_message_unref (msg);
    status = 2;
  }
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (posebatch);
  gst_object_unref (pipeline);

  if (status == 0) {
    printf ("C read %u frames, %u people in all\n", frames, people);
    status = people > 0 ? 0 : 1;
  }
  return status;
}
