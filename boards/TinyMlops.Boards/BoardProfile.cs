using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TinyMlops.Boards;

/// <summary>Memory a board grants to models.</summary>
public sealed record BoardMemory
{
    /// <summary>Total RAM of the board in bytes.</summary>
    public long TotalRamBytes { get; init; }

    /// <summary>Flash (or disk) bytes for one model slot.</summary>
    public int ModelFlashBytes { get; init; }

    /// <summary>RAM a model may hold: blob, activations and decoded tables (the core's <c>Int8Model.RamBytes</c>).</summary>
    public int ModelRamBytes { get; init; }

    /// <summary>RAM the whole detection pipeline may hold, model included (sensor nodes; <c>PipelineBudget</c>).</summary>
    public int PipelineRamBytes { get; init; }

    /// <summary>Largest contiguous block the managed heap can give after start-up.</summary>
    public int LargestBlockBytes { get; init; }
}

/// <summary>How a board samples vibration.</summary>
public sealed record BoardSampling
{
    /// <summary>Accelerometer: <c>mpu6050</c> (I2C) or <c>adxl345</c> (SPI).</summary>
    public string Sensor { get; init; } = "";

    /// <summary>Samples per second per axis.</summary>
    public int SampleRateHz { get; init; }

    /// <summary>Samples per window (power of two).</summary>
    public int WindowLength { get; init; }

    /// <summary>Frequency bands per axis in the feature vector.</summary>
    public int Bands { get; init; }

    /// <summary>Full-scale range in g.</summary>
    public int RangeG { get; init; }

    /// <summary>
    /// Windows a node learns its own healthy baseline over after commissioning (0: none). Models trained for the
    /// board with a baseline take each window as its deviation from that baseline (docs/features.md).
    /// </summary>
    public int BaselineWindows { get; init; }

    /// <summary>Windows averaged into each baseline input (1: none).</summary>
    public int BaselineSmoothing { get; init; } = 1;
}

/// <summary>
/// How fast the board's nanoFramework interpreter runs the core: the device time of one iteration of a plain int8
/// multiply-accumulate loop, the unit every per-window cost is counted in (docs/interpreter-cost.md).
/// </summary>
public sealed record BoardInterpreter
{
    /// <summary>Nanoseconds one MAC-loop iteration takes on this board, taken at the slow end of the calibration.</summary>
    public int MacNanoseconds { get; init; }

    /// <summary>Where the figure comes from.</summary>
    public string Basis { get; init; } = "";
}

/// <summary>Bus wiring of the sensor.</summary>
public sealed record BoardBus
{
    /// <summary><c>i2c</c> or <c>spi</c>.</summary>
    public string Kind { get; init; } = "";

    /// <summary>Bus index (I2C1, SPI1 …).</summary>
    public int Bus { get; init; }

    /// <summary>Pin numbers by role: sda/scl for I2C, mosi/miso/clk/cs for SPI.</summary>
    public Dictionary<string, int> Pins { get; init; } = new();

    /// <summary>I2C device address (I2C only).</summary>
    public int Address { get; init; }

    /// <summary>SPI chip-select line (SPI only; the Pi's CE0 is 0).</summary>
    public int ChipSelect { get; init; }
}

/// <summary>A board profile (boards/NAME.json): what a model and the node's firmware may assume about a board.</summary>
public sealed record BoardProfile
{
    /// <summary>Name, equal to the file name: what every command takes as <c>--board</c>.</summary>
    public string Name { get; init; } = "";

    /// <summary>One-line description.</summary>
    public string Description { get; init; } = "";

    /// <summary><c>sensor-node</c> (ESP32, nanoFramework) or <c>gateway</c> (Raspberry Pi, .NET).</summary>
    public string Role { get; init; } = "";

    /// <summary>Board class written into model headers (1 ESP32, 2 ESP32-S3, 3 ESP32-C3, 10 Raspberry Pi).</summary>
    public int BoardClass { get; init; }

    /// <summary>nanoff <c>--target</c> name (sensor nodes only).</summary>
    public string? NanoffTarget { get; init; }

    /// <summary>Memory budgets.</summary>
    public BoardMemory Memory { get; init; } = new();

    /// <summary>Sampling (sensor nodes only).</summary>
    public BoardSampling? Sampling { get; init; }

    /// <summary>Interpreter speed (sensor nodes only).</summary>
    public BoardInterpreter? Interpreter { get; init; }

    /// <summary>Sensor bus (sensor nodes only).</summary>
    public BoardBus? SensorBus { get; init; }

    /// <summary>
    /// Gateways: where a wired accelerometer of the gateway's own may sit, by sensor (<c>adxl345</c> on SPI,
    /// <c>mpu6050</c> on I2C); <see cref="Sampling"/> then says how the gateway's local node samples it.
    /// </summary>
    public Dictionary<string, BoardBus> SensorBuses { get; init; } = new();

    /// <summary>Alarm outputs by role (stackLight, buzzer, …) → GPIO number.</summary>
    public Dictionary<string, int> AlarmPins { get; init; } = new();

    /// <summary>Highest GPIO number of the board.</summary>
    public int MaxGpio { get; init; }

    /// <summary>True for an ESP32 sensor node (a gateway's <see cref="Sampling"/> describes its own wired sensor only).</summary>
    public bool IsSensorNode => Role == "sensor-node";

    /// <summary>Board classes a profile may name.</summary>
    public static readonly IReadOnlyDictionary<int, string> Classes = new Dictionary<int, string>
    {
        [1] = "ESP32 (Xtensa LX6)", [2] = "ESP32-S3 (Xtensa LX7)", [3] = "ESP32-C3 (RISC-V)", [10] = "Raspberry Pi (arm64)",
    };

    /// <summary>nanoff targets a sensor-node profile may name.</summary>
    public static readonly IReadOnlySet<string> NanoffTargets = new HashSet<string>(StringComparer.Ordinal)
    {
        "ESP32_REV0", "ESP32_REV3", "ESP32_PSRAM_REV0", "ESP32_PSRAM_REV3", "ESP32_S3", "ESP32_S3_ALL", "ESP32_C3", "ESP32_C6_THREAD",
    };

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>
    /// The repository's boards/ folder, found upward from <paramref name="start"/>, else from the application's folder
    /// (dotnet run), else from the current directory (the installed tool run inside a checkout); failing those, the
    /// copy an installed application carries beside itself (the gateway's publish folder has <c>boards/</c>).
    /// </summary>
    public static string FindBoardsDirectory(string? start = null)
    {
        string? root = Checkout.TryFindRoot(start);
        if (root != null && Directory.Exists(Path.Combine(root, "boards")))
        {
            return Path.Combine(root, "boards");
        }

        string shipped = Path.Combine(AppContext.BaseDirectory, "boards");
        if (Directory.Exists(shipped))
        {
            return shipped;
        }

        throw new DirectoryNotFoundException("boards/ not found: run inside a TinyMlops checkout");
    }

    /// <summary>Names of every profile in <paramref name="directory"/>.</summary>
    public static IReadOnlyList<string> List(string directory) =>
        Directory.GetFiles(directory, "*.json").Select(f => Path.GetFileNameWithoutExtension(f)).OrderBy(n => n, StringComparer.Ordinal).ToArray();

    /// <summary>Loads and validates boards/<paramref name="name"/>.json.</summary>
    /// <exception cref="BoardProfileException">Unknown board, unreadable JSON, or a rule broken (the message lists them all).</exception>
    public static BoardProfile Load(string name, string? directory = null)
    {
        directory ??= FindBoardsDirectory();
        string path = Path.Combine(directory, name + ".json");
        if (name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || !File.Exists(path))
        {
            throw new BoardProfileException($"unknown board '{name}'; known boards: {string.Join(", ", List(directory))}");
        }

        return Parse(File.ReadAllText(path), name);
    }

    /// <summary>Parses and validates profile JSON whose file is named <paramref name="expectedName"/>.</summary>
    public static BoardProfile Parse(string json, string expectedName)
    {
        BoardProfile? p;
        try
        {
            p = JsonSerializer.Deserialize<BoardProfile>(json, Json);
        }
        catch (JsonException e)
        {
            throw new BoardProfileException($"board '{expectedName}': invalid JSON: {e.Message}");
        }

        if (p == null)
        {
            throw new BoardProfileException($"board '{expectedName}': empty profile");
        }

        List<string> errors = p.Validate(expectedName);
        if (errors.Count > 0)
        {
            throw new BoardProfileException($"board '{expectedName}' is invalid:\n  - " + string.Join("\n  - ", errors));
        }

        return p;
    }

    /// <summary>Every rule the profile breaks (empty when valid).</summary>
    public List<string> Validate(string expectedName)
    {
        var e = new List<string>();
        if (Name != expectedName)
        {
            e.Add($"name '{Name}' must equal the file name '{expectedName}'");
        }

        if (!Classes.ContainsKey(BoardClass))
        {
            e.Add($"boardClass {BoardClass} is not one of {string.Join(", ", Classes.Keys)}");
        }

        if (Memory.TotalRamBytes <= 0 || Memory.ModelFlashBytes <= 0 || Memory.ModelRamBytes <= 0 || Memory.LargestBlockBytes <= 0)
        {
            e.Add("memory figures must all be positive");
        }

        if (Memory.LargestBlockBytes > Memory.TotalRamBytes || Memory.ModelRamBytes > Memory.TotalRamBytes)
        {
            e.Add("largest block and model RAM cannot exceed total RAM");
        }

        if (MaxGpio <= 0)
        {
            e.Add("maxGpio must be positive");
        }

        var used = new Dictionary<int, string>();
        foreach ((string role, int pin) in AlarmPins.Concat(SensorBus?.Pins ?? new Dictionary<string, int>())
                     .Concat(SensorBuses.SelectMany(b => b.Value.Pins.Select(p => new KeyValuePair<string, int>(b.Key + "." + p.Key, p.Value)))))
        {
            if (pin < 0 || pin > MaxGpio)
            {
                e.Add($"pin {role}={pin} is outside 0..{MaxGpio}");
            }
            else if (!used.TryAdd(pin, role))
            {
                e.Add($"pin {pin} is used by both {used[pin]} and {role}");
            }
        }

        if (Role == "sensor-node")
        {
            if (NanoffTarget == null || !NanoffTargets.Contains(NanoffTarget))
            {
                e.Add($"nanoffTarget '{NanoffTarget}' is not a known nanoff target ({string.Join(", ", NanoffTargets)})");
            }

            if (Sampling == null)
            {
                e.Add("a sensor node needs sampling");
            }
            else
            {
                if (Sampling.Sensor is not ("mpu6050" or "adxl345"))
                {
                    e.Add($"sensor '{Sampling.Sensor}' must be mpu6050 or adxl345");
                }

                int maxRate = Sampling.Sensor == "adxl345" ? 3200 : 1000;
                if (Sampling.SampleRateHz < 1 || Sampling.SampleRateHz > maxRate)
                {
                    e.Add($"sampleRateHz {Sampling.SampleRateHz} is outside 1..{maxRate} for {Sampling.Sensor}");
                }

                if (Sampling.WindowLength < 16 || Sampling.WindowLength > 8192 || (Sampling.WindowLength & (Sampling.WindowLength - 1)) != 0)
                {
                    e.Add($"windowLength {Sampling.WindowLength} must be a power of two in 16..8192");
                }

                if (Sampling.Bands < 1 || Sampling.Bands > Sampling.WindowLength / 4)
                {
                    e.Add($"bands {Sampling.Bands} must be in 1..windowLength/4");
                }

                if (Sampling.BaselineWindows is 1 or < 0 or > 1000 || Sampling.BaselineSmoothing is < 1 or > 16)
                {
                    e.Add($"baselineWindows {Sampling.BaselineWindows} must be 0 or 2..1000 and baselineSmoothing {Sampling.BaselineSmoothing} 1..16");
                }

                if (Sampling.RangeG is not (2 or 4 or 8 or 16))
                {
                    e.Add($"rangeG {Sampling.RangeG} must be 2, 4, 8 or 16");
                }

                if (Memory.PipelineRamBytes <= Memory.ModelRamBytes || Memory.PipelineRamBytes > Memory.TotalRamBytes)
                {
                    e.Add($"pipelineRamBytes {Memory.PipelineRamBytes} must exceed modelRamBytes and fit in totalRamBytes");
                }
            }

            if (Interpreter == null || Interpreter.MacNanoseconds <= 0)
            {
                e.Add("a sensor node needs interpreter.macNanoseconds (the device time of one MAC unit, docs/interpreter-cost.md)");
            }

            if (SensorBus == null)
            {
                e.Add("a sensor node needs sensorBus");
            }
            else
            {
                string[] roles = SensorBus.Kind == "i2c" ? new[] { "sda", "scl" } : SensorBus.Kind == "spi" ? new[] { "mosi", "miso", "clk", "cs" } : Array.Empty<string>();
                if (roles.Length == 0)
                {
                    e.Add($"sensorBus kind '{SensorBus.Kind}' must be i2c or spi");
                }

                foreach (string r in roles.Where(r => !SensorBus.Pins.ContainsKey(r)))
                {
                    e.Add($"sensorBus needs pin '{r}'");
                }

                if (Sampling != null && ((Sampling.Sensor == "mpu6050") != (SensorBus.Kind == "i2c")))
                {
                    e.Add("mpu6050 is wired on i2c, adxl345 on spi");
                }

                if (SensorBus.Kind == "i2c" && (SensorBus.Address < 0x08 || SensorBus.Address > 0x77))
                {
                    e.Add($"i2c address 0x{SensorBus.Address:X2} is outside 0x08..0x77");
                }
            }
        }
        else if (Role == "gateway")
        {
            if (NanoffTarget != null)
            {
                e.Add("a gateway has no nanoffTarget");
            }

            foreach ((string sensor, BoardBus bus) in SensorBuses)
            {
                string want = sensor switch { "adxl345" => "spi", "mpu6050" => "i2c", _ => "" };
                if (want.Length == 0)
                {
                    e.Add($"sensorBuses names '{sensor}'; it must be adxl345 or mpu6050");
                }
                else if (bus.Kind != want)
                {
                    e.Add($"sensorBuses.{sensor} must be on {want}");
                }
            }

            if (Sampling != null && !SensorBuses.ContainsKey(Sampling.Sensor))
            {
                e.Add($"sampling.sensor '{Sampling.Sensor}' has no entry in sensorBuses");
            }
        }
        else
        {
            e.Add($"role '{Role}' must be sensor-node or gateway");
        }

        return e;
    }
}

/// <summary>A board profile is missing or invalid.</summary>
public sealed class BoardProfileException(string message) : Exception(message);
