using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Host.Simulation;

namespace TinyMlops.TestBed;

/// <summary>What happens to a node itself at a point in sample time (see <see cref="FleetScenario.NodeEvents"/>).</summary>
public sealed record NodeEvent(double AtSeconds, string Kind);

/// <summary>One node of a fleet scenario: who it is, on which board, what its sensor is shown when, and what befalls it.</summary>
public sealed record FleetNode(string Id, string Board, IReadOnlyList<SensorStep> Schedule, IReadOnlyList<NodeEvent> Events);

/// <summary>
/// A fleet scenario file (docs/fleet.md): which node, which recording, which fault, when. JSON:
/// <c>{"nodes": [{"id": "fan-1", "board": "esp32-wroom-32", "schedule": [{"at": 0, "play": "config1-speed050"},
/// {"at": 60, "play": "config2-speed050"}, {"at": 90, "fault": "stuck-sensor"}, {"at": 95, "fault": "none"}]}]}</c>.
/// Times are seconds of sample time from the node's start; <c>play</c> names a recording by its id; faults are
/// <c>stuck-sensor</c>, <c>nan-samples</c>, <c>sensor-fail</c> and <c>none</c>. Every mistake is refused with
/// where it is (<c>nodes[0].schedule[2]: …</c>).
/// </summary>
public static class FleetScenario
{
    /// <summary>The fault names a schedule may use.</summary>
    public static IReadOnlyDictionary<string, SensorFault> Faults { get; } = new Dictionary<string, SensorFault>(StringComparer.Ordinal)
    {
        ["none"] = SensorFault.None,
        ["stuck-sensor"] = SensorFault.Stuck,
        ["nan-samples"] = SensorFault.NaN,
        ["sensor-fail"] = SensorFault.Fail,
    };

    /// <summary>
    /// What a step's <c>node</c> may say: <c>link-down</c> / <c>link-up</c> (the network goes and comes back),
    /// <c>clock-unset</c> / <c>clock-set</c> (the wall clock reads time since boot, as before SNTP), <c>reset</c> (a
    /// power cycle now), <c>reset-on-download</c> (a power cycle the next time an update is half downloaded).
    /// </summary>
    public static IReadOnlyList<string> NodeEvents { get; } = ["link-down", "link-up", "clock-unset", "clock-set", "reset", "reset-on-download"];

    /// <summary>
    /// Reads a scenario; <paramref name="boards"/> are the known board names and <paramref name="recordings"/> the
    /// recording ids a step may play. Throws <see cref="FormatException"/> saying what is wrong and where.
    /// </summary>
    public static IReadOnlyList<FleetNode> Parse(string json, IReadOnlyCollection<string> boards, IReadOnlyCollection<string> recordings)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new FormatException($"not JSON: {e.Message}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("nodes", out JsonElement nodes) || nodes.ValueKind != JsonValueKind.Array || nodes.GetArrayLength() == 0)
            {
                throw new FormatException("a scenario is an object with a non-empty \"nodes\" array");
            }

            var result = new List<FleetNode>();
            var ids = new HashSet<string>(StringComparer.Ordinal);
            int n = 0;
            foreach (JsonElement node in nodes.EnumerateArray())
            {
                string where = $"nodes[{n++}]";
                string id = Text(node, "id", where);
                if (!Topics.IsValidNodeId(id) || Topics.IsReservedId(id) || !ids.Add(id))
                {
                    throw new FormatException($"{where}: id '{id}' is {(ids.Contains(id) ? "given twice" : "not 1-64 letters, digits, '-', '_' or '.' (nor a reserved one)")}");
                }

                string board = Text(node, "board", where);
                if (!boards.Contains(board))
                {
                    throw new FormatException($"{where}: board '{board}' is not one of {string.Join(", ", boards)}");
                }

                if (!node.TryGetProperty("schedule", out JsonElement schedule) || schedule.ValueKind != JsonValueKind.Array || schedule.GetArrayLength() == 0)
                {
                    throw new FormatException($"{where}: a node needs a non-empty \"schedule\"");
                }

                var steps = new List<SensorStep>();
                var events = new List<NodeEvent>();
                double last = 0;
                int s = 0;
                foreach (JsonElement step in schedule.EnumerateArray())
                {
                    string at = $"{where}.schedule[{s++}]";
                    if (step.ValueKind != JsonValueKind.Object || !step.TryGetProperty("at", out JsonElement time) || time.ValueKind != JsonValueKind.Number
                        || !time.TryGetDouble(out double seconds) || !(seconds >= 0) || double.IsInfinity(seconds))
                    {
                        throw new FormatException($"{at}: \"at\" must be a time in seconds, 0 or more");
                    }

                    if (s > 1 && seconds < last)
                    {
                        throw new FormatException($"{at}: {seconds.ToString(CultureInfo.InvariantCulture)} s comes before the step above it");
                    }

                    string? play = step.TryGetProperty("play", out JsonElement p) ? p.GetString() : null;
                    if (play != null && !recordings.Contains(play))
                    {
                        throw new FormatException($"{at}: no recording '{play}' (there are: {string.Join(", ", recordings.Take(8))}{(recordings.Count > 8 ? ", …" : "")})");
                    }

                    SensorFault? fault = null;
                    if (step.TryGetProperty("fault", out JsonElement f))
                    {
                        fault = f.ValueKind == JsonValueKind.String && Faults.TryGetValue(f.GetString()!, out SensorFault known) ? known
                            : throw new FormatException($"{at}: fault {f.GetRawText()} is not one of {string.Join(", ", Faults.Keys)}");
                    }

                    string? happens = null;
                    if (step.TryGetProperty("node", out JsonElement e))
                    {
                        happens = e.ValueKind == JsonValueKind.String && NodeEvents.Contains(e.GetString()) ? e.GetString()
                            : throw new FormatException($"{at}: node event {e.GetRawText()} is not one of {string.Join(", ", NodeEvents)}");
                        events.Add(new NodeEvent(seconds, happens!));
                    }

                    last = seconds;
                    if (play == null && fault == null && happens == null)
                    {
                        throw new FormatException($"{at}: a step plays a recording (\"play\"), starts or ends a sensor fault (\"fault\"), or says what befalls the node (\"node\")");
                    }

                    if (play == null && fault == null)
                    {
                        continue;
                    }

                    if (steps.Count == 0 && (seconds != 0 || play == null))
                    {
                        throw new FormatException($"{at}: the first step is at 0 and plays a recording");
                    }

                    steps.Add(new SensorStep(seconds, play, fault));
                }

                if (steps.Count == 0)
                {
                    throw new FormatException($"{where}: the schedule plays no recording (its first step is at 0 and plays one)");
                }

                result.Add(new FleetNode(id, board, steps, events));
            }

            return result;
        }
    }

    private static string Text(JsonElement e, string name, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()!
            : throw new FormatException($"{where}: \"{name}\" is required (a string)");
}
