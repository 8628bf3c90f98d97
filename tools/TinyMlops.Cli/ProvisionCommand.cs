using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Cli;

/// <summary>A node's secrets: its update key (hex) and its broker password. Written owner-only, never printed.</summary>
/// <param name="Node">Node id.</param>
/// <param name="Key">Model-update HMAC key, hex.</param>
/// <param name="MqttPassword">Broker password.</param>
public sealed record NodeIdentity(string Node, string Key, string MqttPassword)
{
    /// <summary>A fresh identity: 32 random key bytes and 128 random password bits, unless given.</summary>
    public static NodeIdentity Create(string node, string? key = null, string? password = null) =>
        new(node, key ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), password ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));

    /// <summary>The identity a provisioning file holds, read with the firmware's own parser.</summary>
    public static NodeIdentity Read(string configFile)
    {
        NodeConfig c = NodeConfig.Parse(File.ReadAllText(configFile));
        return new NodeIdentity(c.NodeId, Convert.ToHexStringLower(c.NodeKey), c.MqttPassword);
    }

    /// <summary>The update key's bytes.</summary>
    public byte[] KeyBytes() => Convert.FromHexString(Key);

    /// <summary>Names the identity without revealing it: the first 16 hex digits of the key's SHA-256.</summary>
    public string KeyId => Convert.ToHexStringLower(SHA256.HashData(KeyBytes()))[..16];
}

/// <summary>
/// Writes a node's provisioning file (<c>node.cfg</c>, copied to <c>I:\node.cfg</c> on the ESP32) from a board profile
/// and the node's identity: id, a fresh 32-byte update key (or a given one), Wi-Fi, broker and credentials.
/// The file is parsed back with the firmware's own <see cref="NodeConfig"/> before it is written. <c>--batch CSV</c>
/// does the same for every node id of a file, all checked before any is written.
/// </summary>
public static class ProvisionCommand
{
    /// <summary>Runs the command.</summary>
    public static int Run(Options o)
    {
        BoardProfile board = SensorBoard(Required(o, "board"));
        string[] nodes = o.Get("batch") is { } batch ? ReadBatch(batch) : [Required(o, "node")];
        if (o.Get("batch") != null && o.Get("node") != null)
        {
            throw new UsageException("--node and --batch: give one node, or a file of them");
        }

        if (nodes.Length > 1 && (o.Get("key") != null || o.Get("mqtt-password") != null || o.Get("mqtt-user") != null || o.Get("out") == null))
        {
            throw new UsageException("--batch gives every node its own key and password: leave --key, --mqtt-password and --mqtt-user unset, and give --out (each node gets a folder in it)");
        }

        // Every check before anything is written: a batch is written whole or not at all (but for a full disk).
        Contracts.NodeRegistry? logins = !o.Has("replace") && o.Get("gateway-nodes") is { } nodesFile && File.Exists(nodesFile) ? new Contracts.NodeRegistry(nodesFile) : null;
        var planned = new List<(NodeIdentity Id, string Text, string Path)>();
        foreach (string node in nodes)
        {
            CheckNodeId(node);
            if (o.Get("gateway-nodes") != null && (o.Get("mqtt-user") ?? node) != node)
            {
                throw new UsageException("--gateway-nodes registers the node under its id, which is its MQTT user: leave --mqtt-user unset");
            }

            if (logins?.IsKnown(node) == true)
            {
                throw new CliException($"node {node} is already registered in {o.Get("gateway-nodes")}: give --replace to give it new credentials, revoke it ('tinymlops nodes revoke {node}'), or pick another id");
            }

            NodeIdentity id = NodeIdentity.Create(node, o.Get("key"), o.Get("mqtt-password"));
            string outDir = nodes.Length > 1 ? Path.Combine(o.Get("out")!, node) : o.Get("out") ?? Path.Combine("out", "provision", node);
            planned.Add((id, ConfigText(board, id, o), Path.Combine(outDir, "node.cfg")));
        }

        foreach ((NodeIdentity id, string text, string path) in planned)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            Contracts.SecretFile.WriteAllText(path, text); // owner-only: it holds the node's key and passwords
            Console.WriteLine($"wrote {path} for {id.Node} on {board.Name} (nanoff target {board.NanoffTarget}); copy it to I:\\node.cfg on the node");
            Register(o.Get("gateway-nodes"), o.Get("gateway-keys"), board, id);
        }

        if (planned.Count > 1)
        {
            Console.WriteLine($"provisioned {planned.Count} nodes");
        }

        return 0;
    }

    /// <summary>Registers the node's login and update key with a gateway's files, where given.</summary>
    internal static void Register(string? nodesFile, string? keysFile, BoardProfile board, NodeIdentity id)
    {
        if (nodesFile != null)
        {
            // The gateway keeps only a salted hash; it re-reads the file, so the node can log in straight away.
            Contracts.NodeRegistry.AddOrReplace(nodesFile, id.Node, id.MqttPassword);
            Console.WriteLine($"registered {id.Node} in the gateway's {nodesFile}");
        }

        if (keysFile != null)
        {
            // The gateway signs this node's manifests with the same key when it relays a release (owner-only file).
            Contracts.NodeKeys.Register(keysFile, id.Node, id.KeyBytes(), board.BoardClass);
            Console.WriteLine($"registered {id.Node}'s update key (board class {board.BoardClass}) in the gateway's {keysFile}");
        }
    }

    /// <summary>The sensor-node board <paramref name="name"/>, or a usage error saying why it is not one.</summary>
    internal static BoardProfile SensorBoard(string name)
    {
        BoardProfile board = BoardProfile.Load(name);
        if (!board.IsSensorNode || board.Sampling == null || board.SensorBus == null)
        {
            throw new UsageException($"board '{board.Name}' is not a sensor node");
        }

        return board;
    }

    /// <summary>Refuses an id a node cannot have.</summary>
    internal static void CheckNodeId(string node)
    {
        if (!Topics.IsValidNodeId(node))
        {
            throw new UsageException($"node id '{Contracts.LogText.Safe(node)}' must be 1-64 letters, digits, '-', '_' or '.'");
        }

        if (Topics.IsReservedId(node))
        {
            throw new UsageException($"node id '{node}' is reserved for the gateway (ids starting with 'gateway' or 'tinymlops')");
        }
    }

    /// <summary>The provisioning file of <paramref name="id"/> on <paramref name="board"/>, checked with the firmware's parser.</summary>
    internal static string ConfigText(BoardProfile board, NodeIdentity id, Options o)
    {
        BoardSampling sampling = board.Sampling!;
        BoardBus bus = board.SensorBus!;
        var sb = new StringBuilder();
        sb.Append("# TinyMlops node provisioning file for ").Append(id.Node).Append(" on ").Append(board.Name).Append('\n');
        sb.Append("# Keep it secret: node.key signs this node's model updates, mqtt.password is its broker login.\n");
        Line(sb, "node.id", id.Node);
        Line(sb, "node.key", id.Key);
        Line(sb, "wifi.ssid", Required(o, "wifi-ssid"));
        Line(sb, "wifi.password", o.Get("wifi-password") ?? "");
        Line(sb, "mqtt.host", Required(o, "mqtt-host"));
        Line(sb, "mqtt.port", o.Get("mqtt-port") ?? "8883");
        Line(sb, "mqtt.tls", o.Get("mqtt-tls") ?? "true");
        Line(sb, "mqtt.user", o.Get("mqtt-user") ?? id.Node);
        Line(sb, "mqtt.password", id.MqttPassword);
        Line(sb, "mqtt.ca", o.Get("ca") ?? "ca.pem");
        Line(sb, "sntp.server", o.Get("sntp") ?? "pool.ntp.org");
        Line(sb, "board.class", board.BoardClass.ToString());
        Line(sb, "sensor.kind", sampling.Sensor);
        Line(sb, "sensor.rate", sampling.SampleRateHz.ToString());
        Line(sb, "sensor.window", sampling.WindowLength.ToString());
        Line(sb, "sensor.bands", sampling.Bands.ToString());
        Line(sb, "sensor.range", sampling.RangeG.ToString());
        if (sampling.BaselineWindows > 0)
        {
            Line(sb, "baseline.windows", sampling.BaselineWindows.ToString());
            Line(sb, "baseline.smoothing", sampling.BaselineSmoothing.ToString());
        }

        Line(sb, "bus.index", bus.Bus.ToString());
        foreach ((string role, int pin) in bus.Pins)
        {
            Line(sb, "bus." + role, pin.ToString());
        }

        if (bus.Kind == "i2c")
        {
            Line(sb, "bus.address", bus.Address.ToString());
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

        return text;
    }

    /// <summary>
    /// Node ids from a CSV file: a header with a <c>node</c> column (other columns are ignored), then one node a row.
    /// Every id is checked, and a duplicate refused, before anything is written.
    /// </summary>
    internal static string[] ReadBatch(string file)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file).Where(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#')).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"--batch {file}: {e.Message}");
        }

        int column = lines.Length == 0 ? -1 : Array.FindIndex(lines[0].Split(','), h => h.Trim().Equals("node", StringComparison.OrdinalIgnoreCase));
        if (column < 0)
        {
            throw new CliException($"--batch {file}: the first line must be a header with a 'node' column");
        }

        var ids = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 1; i < lines.Length; i++)
        {
            string[] cells = lines[i].Split(',');
            string id = column < cells.Length ? cells[column].Trim() : "";
            if (!Topics.IsValidNodeId(id) || Topics.IsReservedId(id))
            {
                throw new CliException($"--batch {file} line {i + 1}: '{Contracts.LogText.Safe(id)}' is not a node id a node may have (1-64 letters, digits, '-', '_' or '.', not starting with 'gateway' or 'tinymlops')");
            }

            if (!seen.Add(id))
            {
                throw new CliException($"--batch {file} line {i + 1}: node {id} is listed twice");
            }

            ids.Add(id);
        }

        return ids.Count > 0 ? ids.ToArray() : throw new CliException($"--batch {file} lists no node");
    }

    private static void Line(StringBuilder sb, string key, string value)
    {
        if (value.Contains('\n') || value.Contains('\r'))
        {
            throw new UsageException($"{key} must be a single line");
        }

        sb.Append(key).Append('=').Append(value).Append('\n');
    }

    internal static string Required(Options o, string name) => o.Get(name) ?? throw new UsageException($"--{name} is required");
}
