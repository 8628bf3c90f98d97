using System.Collections;

namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// A node's provisioning file (<c>I:\node.cfg</c>), written by <c>tinymlops provision</c>: one <c>key=value</c> per
    /// line, <c>#</c> comments. Holds the node's identity, secrets and the board profile's sampling and wiring.
    /// <see cref="Parse"/> refuses a file with a missing or malformed key, naming it.
    /// </summary>
    public sealed class NodeConfig
    {
        /// <summary>Node id (MQTT client id and topic segment).</summary>
        public string NodeId = "";

        /// <summary>HMAC-SHA256 key for update manifests (hex in the file, at least 16 bytes).</summary>
        public byte[] NodeKey = new byte[0];

        /// <summary>Wi-Fi SSID.</summary>
        public string WifiSsid = "";

        /// <summary>Wi-Fi password.</summary>
        public string WifiPassword = "";

        /// <summary>Broker host name or address (the line gateway).</summary>
        public string MqttHost = "";

        /// <summary>Broker port (8883 with TLS).</summary>
        public int MqttPort = 8883;

        /// <summary>Use TLS to the broker.</summary>
        public bool MqttTls = true;

        /// <summary>MQTT user name (per node).</summary>
        public string MqttUser = "";

        /// <summary>MQTT password (per node).</summary>
        public string MqttPassword = "";

        /// <summary>CA certificate file (PEM) on the node's storage, for TLS.</summary>
        public string CaCertificateFile = "";

        /// <summary>SNTP server.</summary>
        public string SntpServer = "pool.ntp.org";

        /// <summary>Board class (model headers must match).</summary>
        public int BoardClass;

        /// <summary><c>mpu6050</c> or <c>adxl345</c>.</summary>
        public string Sensor = "";

        /// <summary>Samples per second per axis.</summary>
        public int SampleRateHz;

        /// <summary>Samples per window.</summary>
        public int WindowLength;

        /// <summary>Frequency bands per axis.</summary>
        public int Bands;

        /// <summary>Accelerometer full scale in g.</summary>
        public int RangeG;

        /// <summary>Sensor bus index.</summary>
        public int Bus;

        /// <summary>Bus pins: sda, scl (I2C) or mosi, miso, clk, cs (SPI); -1 when unused.</summary>
        public int PinSda = -1, PinScl = -1, PinMosi = -1, PinMiso = -1, PinClk = -1, PinCs = -1;

        /// <summary>I2C address of the sensor.</summary>
        public int I2cAddress = 0x68;

        /// <summary>GPIO driving the local alarm output (-1 = none).</summary>
        public int AlarmPin = -1;

        /// <summary>Largest model slot in bytes.</summary>
        public int ModelFlashBytes;

        /// <summary>Most RAM a model may hold (<see cref="Models.Int8Model.RamBytes"/>).</summary>
        public int ModelRamBytes;

        /// <summary>Most RAM the whole detection pipeline may hold, model included (0 = not checked).</summary>
        public int PipelineRamBytes;

        /// <summary>Nanoseconds one MAC unit takes on this board's interpreter (0 = not checked); see <see cref="PipelineBudget"/>.</summary>
        public int MacNanoseconds;

        /// <summary>Seconds between health reports.</summary>
        public int TelemetrySeconds = 60;

        /// <summary>
        /// Windows the node learns its healthy baseline over after commissioning (<c>baseline.windows</c>; 0: it keeps
        /// none, and only models on raw features run). A model trained on baseline inputs needs it.
        /// </summary>
        public int BaselineWindows;

        /// <summary>Windows averaged into each baseline input (<c>baseline.smoothing</c>, 1..16).</summary>
        public int BaselineSmoothing = 1;

        /// <summary>Parses the file text; throws <see cref="System.ArgumentException"/> naming the bad key.</summary>
        public static NodeConfig Parse(string text)
        {
            Hashtable values = new Hashtable();
            string[] lines = text.Split(new char[] { '\n' });
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i].Trim();
                if (line.Length == 0 || line[0] == '#')
                {
                    continue;
                }

                int eq = line.IndexOf('=');
                if (eq <= 0)
                {
                    throw new System.ArgumentException("node.cfg line " + (i + 1) + " is not key=value");
                }

                values[line.Substring(0, eq).Trim()] = line.Substring(eq + 1).Trim();
            }

            NodeConfig c = new NodeConfig();
            c.NodeId = Text(values, "node.id", true);
            if (!Topics.IsAssignableNodeId(c.NodeId))
            {
                throw new System.ArgumentException("node.id is not a valid node id (or is reserved for the gateway)");
            }

            c.NodeKey = Hex(Text(values, "node.key", true), "node.key");
            if (c.NodeKey.Length < 16)
            {
                throw new System.ArgumentException("node.key must be at least 16 bytes (32 hex digits)");
            }

            c.WifiSsid = Text(values, "wifi.ssid", true);
            c.WifiPassword = Text(values, "wifi.password", false);
            c.MqttHost = Text(values, "mqtt.host", true);
            c.MqttPort = Number(values, "mqtt.port", 1, 65535, 8883);
            c.MqttTls = Text(values, "mqtt.tls", false) != "false";
            c.MqttUser = Text(values, "mqtt.user", true);
            c.MqttPassword = Text(values, "mqtt.password", true);
            c.CaCertificateFile = Text(values, "mqtt.ca", false);
            string sntp = Text(values, "sntp.server", false);
            if (sntp.Length > 0)
            {
                c.SntpServer = sntp;
            }

            c.BoardClass = Number(values, "board.class", 0, 65535, -1);
            c.Sensor = Text(values, "sensor.kind", true);
            if (c.Sensor != "mpu6050" && c.Sensor != "adxl345")
            {
                throw new System.ArgumentException("sensor.kind must be mpu6050 or adxl345");
            }

            c.SampleRateHz = Number(values, "sensor.rate", 1, 3200, -1);
            c.WindowLength = Number(values, "sensor.window", 16, 8192, -1);
            c.Bands = Number(values, "sensor.bands", 1, 2048, -1);
            c.RangeG = Number(values, "sensor.range", 2, 16, -1);
            c.Bus = Number(values, "bus.index", 1, 2, 1);
            c.PinSda = Number(values, "bus.sda", -1, 48, -1);
            c.PinScl = Number(values, "bus.scl", -1, 48, -1);
            c.PinMosi = Number(values, "bus.mosi", -1, 48, -1);
            c.PinMiso = Number(values, "bus.miso", -1, 48, -1);
            c.PinClk = Number(values, "bus.clk", -1, 48, -1);
            c.PinCs = Number(values, "bus.cs", -1, 48, -1);
            c.I2cAddress = Number(values, "bus.address", 0, 127, 0x68);
            c.AlarmPin = Number(values, "alarm.pin", -1, 48, -1);
            c.ModelFlashBytes = Number(values, "model.flash", 1024, 16777216, -1);
            c.ModelRamBytes = Number(values, "model.ram", 256, 16777216, -1);
            c.PipelineRamBytes = Number(values, "pipeline.ram", 0, 67108864, 0);
            c.MacNanoseconds = Number(values, "interp.macns", 0, 10000000, 0);
            c.TelemetrySeconds = Number(values, "telemetry.seconds", 5, 86400, 60);
            c.BaselineWindows = Number(values, "baseline.windows", 0, 1000, 0);
            c.BaselineSmoothing = Number(values, "baseline.smoothing", 1, 16, 1);
            if (c.BaselineWindows == 1)
            {
                throw new System.ArgumentException("baseline.windows must be 0 (none) or at least 2");
            }
            return c;
        }

        private static string Text(Hashtable values, string key, bool required)
        {
            string? v = (string?)values[key];
            if (v == null || v.Length == 0)
            {
                if (required)
                {
                    throw new System.ArgumentException("node.cfg lacks " + key);
                }

                return "";
            }

            return v;
        }

        private static int Number(Hashtable values, string key, int min, int max, int fallback)
        {
            string? v = (string?)values[key];
            if (v == null || v.Length == 0)
            {
                if (fallback == -1 && min > -1)
                {
                    throw new System.ArgumentException("node.cfg lacks " + key);
                }

                return fallback;
            }

            int n;
            if (!int.TryParse(v, out n) || n < min || n > max)
            {
                throw new System.ArgumentException(key + " must be a whole number in " + min + ".." + max);
            }

            return n;
        }

        private static byte[] Hex(string hex, string key)
        {
            if (hex.Length % 2 != 0)
            {
                throw new System.ArgumentException(key + " must have an even number of hex digits");
            }

            byte[] b = new byte[hex.Length / 2];
            for (int i = 0; i < b.Length; i++)
            {
                int hi = Digit(hex[2 * i]);
                int lo = Digit(hex[(2 * i) + 1]);
                if (hi < 0 || lo < 0)
                {
                    throw new System.ArgumentException(key + " is not hexadecimal");
                }

                b[i] = (byte)((hi << 4) | lo);
            }

            return b;
        }

        private static int Digit(char c)
        {
            if (c >= '0' && c <= '9')
            {
                return c - '0';
            }

            if (c >= 'a' && c <= 'f')
            {
                return c - 'a' + 10;
            }

            if (c >= 'A' && c <= 'F')
            {
                return c - 'A' + 10;
            }

            return -1;
        }
    }
}
