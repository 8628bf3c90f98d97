namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// The node's link to the broker as the controller sees it: QoS 1 publishes. The nanoFramework app adapts
    /// M2Mqtt to it; tests use an in-memory one. Called from the controller's worker thread only.
    /// </summary>
    public interface INodeUplink
    {
        /// <summary>
        /// Hands <paramref name="payload"/>[0..<paramref name="count"/>) to the client for <paramref name="topic"/> at QoS 1;
        /// returns the message id (&gt; 0) whose acknowledgement the adapter reports to
        /// <see cref="NodeController.OnPublished"/>, or 0 when it could not be sent (not connected).
        /// </summary>
        int Publish(string topic, byte[] payload, int count);
    }

    /// <summary>Time as the node knows it.</summary>
    public interface INodeClock
    {
        /// <summary>Unix milliseconds, or 0 while the clock is not set (before SNTP).</summary>
        long UnixMs();

        /// <summary>A monotonic count of 100 ns ticks (for durations).</summary>
        long Ticks();
    }

    /// <summary>The node's local alarm output (a GPIO pin on the device).</summary>
    public interface IAlarmOutput
    {
        /// <summary>Raises or clears the alarm.</summary>
        void Set(bool raised);
    }
}
