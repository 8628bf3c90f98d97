using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using nanoFramework.Networking;
using System.Device.Wifi;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Firmware.App
{
    /// <summary>
    /// ESP32 entry point: read the provisioning file, join Wi-Fi, set the clock by SNTP, then run the node.
    /// Everything board-specific (sensor, pins, rate, budgets) comes from I:\node.cfg, written from the board
    /// profile by <c>tinymlops provision</c>.
    /// </summary>
    public static class Program
    {
        /// <summary>Entry point.</summary>
        public static void Main()
        {
            NodeConfig config;
            try
            {
                config = NodeConfig.Parse(File.ReadAllText("I:\\node.cfg"));
            }
            catch (Exception ex)
            {
                Debug.WriteLine("node.cfg is missing or invalid: " + ex.Message + " (provision the node with `tinymlops provision`)");
                Thread.Sleep(Timeout.Infinite);
                return;
            }

            while (!JoinNetwork(config))
            {
                Thread.Sleep(10000);
            }

            new NodeApp(config).Run();
        }

        private static bool JoinNetwork(NodeConfig config)
        {
            CancellationTokenSource cs = new CancellationTokenSource(60000);
            bool ok = WifiNetworkHelper.ConnectDhcp(config.WifiSsid, config.WifiPassword, WifiReconnectionKind.Automatic, false, 0, cs.Token);
            if (!ok)
            {
                Debug.WriteLine("Wi-Fi failed: " + WifiNetworkHelper.Status.ToString());
                return false;
            }

            Sntp.Server1 = config.SntpServer;
            Sntp.Start();
            Sntp.UpdateNow();
            return true;
        }
    }
}
