using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Cli;

/// <summary>
/// Writes a node's provisioning file (<c>node.cfg</c>, copied to <c>I:\node.cfg</c> on the ESP32) from a board profile
/// and the node's identity: id, a fresh 32-byte update key (or a given one), Wi-Fi, broker and credentials.
/// The file is parsed back with the firmware's own <see cref="NodeConfig"/> before it is written.
/// </summary>
public static class ProvisionCommand
{
    /// <summary>Runs the command.</summary>
    public static int Run(Options o)
    {
        BoardProfile board = BoardProfile.Load(Required(o, "board"));
        if (!board.IsSensorNode || board.Sampling == null || board.SensorBus == null)
        {
            throw new UsageException($"board '{board.Name}' is not a sensor node");
        }

        string node = Required(o, "node");
        if (!Topics.IsValidNodeId(node))
        {
            throw new UsageException("--node must be 1-64 letters, digits, '-', '_' or '.'");
        }

        if (Topics.IsReservedId(node))
        {
            throw new UsageException($"--node '{node}' is reserved for the gateway (ids starting with 'gateway' or 'tinymlops')");
        }

        if (o.Get("gateway-nodes") != null && (o.Get("mqtt-user") ?? node) != node)
        {
            throw new UsageException("--gateway-nodes registers the node under its id, which is its MQTT user: leave --mqtt-user unset");
        }

        string key = o.Get("key") ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var sb = new StringBuilder();
        sb.Append("# TinyMlops node provisioning file for ").Append(node).Append(" on ").Append(board.Name).Append('\n');
        sb.Append("# Keep it secret: node.key signs this node's model updates, mqtt.password is its broker login.\n");
        Line(sb, "node.id", node);
        Line(sb, "node.key", key);
        Line(sb, "wifi.ssid", Required(o, "wifi-ssid"));
        Line(sb, "wifi.password", o.Get("wifi-password") ?? "");
        Line(sb, "mqtt.host", Required(o, "mqtt-host"));
        Line(sb, "mqtt.port", o.Get("mqtt-port") ?? "8883");
        Line(sb, "mqtt.tls", o.Get("mqtt-tls") ?? "true");
        Line(sb, "mqtt.user", o.Get("mqtt-user") ?? node);
        string mqttPassword = o.Get("mqtt-password") ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        Line(sb, "mqtt.password", mqttPassword);
        Line(sb, "mqtt.ca", o.Get("ca") ?? "ca.pem");
        Line(sb, "sntp.server", o.Get("sntp") ?? "pool.ntp.org");
        Line(sb, "board.class", board.BoardClass.ToString());
        Line(sb, "sensor.kind", board.Sampling.Sensor);
        Line(sb, "sensor.rate", board.Sampling.SampleRateHz.ToString());
        Line(sb, "sensor.window", board.Sampling.WindowLength.ToString());
        Line(sb, "sensor.bands", board.Sampling.Bands.ToString());
        Line(sb, "sensor.range", board.Sampling.RangeG.ToString());
        Line(sb, "bus.index", board.SensorBus.Bus.ToString());
        foreach ((string role, int pin) in board.SensorBus.Pins)
        {
            Line(sb, "bus." + role, pin.ToString());
        }

        if (board.SensorBus.Kind == "i2c")
        {
            Line(sb, "bus.address", board.SensorBus.Address.ToString());
        }

        if (board.AlarmPins.TryGetValue("alarmOut", out int alarm))
        {
            Line(sb, "alarm.pin", alarm.ToString());
        }

        Line(sb, "model.flash", board.Memory.ModelFlashBytes.ToString());
        Line(sb, "model.ram", board.Memory.ModelRamBytes.ToString());
        Line(sb, "pipeline.ram", board.Memory.PipelineRamBytes.ToString());
        Line(sb, "interp.macns", (board.Interpreter?.MacNanoseconds ?? 0).ToString());
        string text = sb.ToString();
        try
        {
            NodeConfig.Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("the provisioning file would be invalid: " + e.Message);
        }

        string outDir = o.Get("out") ?? Path.Combine("out", "provision", node);
        Directory.CreateDirectory(outDir);
        string path = Path.Combine(outDir, "node.cfg");
        Contracts.SecretFile.WriteAllText(path, text); // owner-only: it holds the node's key and passwords
        Console.WriteLine($"wrote {path} for {node} on {board.Name} (nanoff target {board.NanoffTarget}); copy it to I:\\node.cfg on the node");
        if (o.Get("gateway-nodes") is { } nodesFile)
        {
            // The gateway keeps only a salted hash; it re-reads the file, so the node can log in straight away.
            Contracts.NodeRegistry.AddOrReplace(nodesFile, node, mqttPassword);
            Console.WriteLine($"registered {node} in the gateway's {nodesFile}");
        }

        if (o.Get("gateway-keys") is { } keysFile)
        {
            // The gateway signs this node's manifests with the same key when it relays a release (owner-only file).
            Contracts.NodeKeys.Register(keysFile, node, Convert.FromHexString(key), board.BoardClass);
            Console.WriteLine($"registered {node}'s update key (board class {board.BoardClass}) in the gateway's {keysFile}");
        }

        return 0;
    }

    private static void Line(StringBuilder sb, string key, string value)
    {
        if (value.Contains('\n') || value.Contains('\r'))
        {
            throw new UsageException($"{key} must be a single line");
        }

        sb.Append(key).Append('=').Append(value).Append('\n');
    }

    private static string Required(Options o, string name) => o.Get(name) ?? throw new UsageException($"--{name} is required");
}
