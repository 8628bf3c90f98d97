namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// The node's error codes, one set for everything telemetry reports as <c>last error</c>: the node's own below
    /// <see cref="UpdateBase"/>, and an update's <see cref="Updates.UpdateError"/> as <see cref="UpdateBase"/> plus its
    /// code (<see cref="FromUpdate"/>).
    /// </summary>
    public static class NodeError
    {
        /// <summary>No error.</summary>
        public const int None = 0;

        /// <summary>A sensor read failed on the bus; its window was dropped.</summary>
        public const int SensorRead = 1;

        /// <summary>A window held a NaN or infinite sample and was dropped.</summary>
        public const int BadSamples = 2;

        /// <summary>No model is installed, or it refused the window's features.</summary>
        public const int NoModel = 3;

        /// <summary>Evaluation fell a whole window behind: a captured window was skipped (sampling itself went on).</summary>
        public const int WindowOverrun = 4;

        /// <summary>A downlink frame did not decode.</summary>
        public const int MalformedDownlink = 5;

        /// <summary>A publish failed (not connected, or the client threw); an event stays pending and is sent again.</summary>
        public const int PublishFailed = 6;

        /// <summary>More events were waiting for their acknowledgement than the node keeps; the oldest was dropped.</summary>
        public const int EventDropped = 7;

        /// <summary>Codes from this value on are update errors: <c>UpdateBase + UpdateError</c>.</summary>
        public const int UpdateBase = 100;

        /// <summary>The node error of an update error (None stays None).</summary>
        public static int FromUpdate(int updateError)
        {
            return updateError == 0 ? None : UpdateBase + updateError;
        }
    }
}
