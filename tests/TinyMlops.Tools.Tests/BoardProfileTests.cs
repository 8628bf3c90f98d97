using System.IO;
using TinyMlops.Boards;
using Xunit;

namespace TinyMlops.Tools.Tests;

public class BoardProfileTests
{
    private static string Dir => Path.Combine(Boards.Checkout.FindRoot(), "boards");

    [Theory]
    [InlineData("esp32-wroom-32", "ESP32_REV3", 1)]
    [InlineData("esp32-wroom-32-100hz", "ESP32_REV3", 1)]
    [InlineData("esp32-wrover", "ESP32_PSRAM_REV3", 1)]
    [InlineData("esp32-s3", "ESP32_S3", 2)]
    [InlineData("esp32-c3", "ESP32_C3", 3)]
    public void Sensor_node_profiles_load_with_their_nanoff_target(string name, string target, int boardClass)
    {
        BoardProfile p = BoardProfile.Load(name, Dir);
        Assert.Equal(target, p.NanoffTarget);
        Assert.Equal(boardClass, p.BoardClass);
        Assert.NotNull(p.Sampling);
        Assert.True(p.Memory.ModelRamBytes <= p.Memory.LargestBlockBytes);
    }

    [Theory]
    [InlineData("rpi4")]
    [InlineData("rpi5")]
    public void Gateway_profiles_load(string name)
    {
        BoardProfile p = BoardProfile.Load(name, Dir);
        Assert.Equal("gateway", p.Role);
        Assert.Null(p.NanoffTarget);
        Assert.Contains("buzzer", p.AlarmPins.Keys);
    }

    [Fact]
    public void Every_file_in_boards_is_valid_and_named_by_its_board()
    {
        Assert.Equal(7, BoardProfile.List(Dir).Count);
        foreach (string name in BoardProfile.List(Dir))
        {
            Assert.Equal(name, BoardProfile.Load(name, Dir).Name);
        }
    }

    [Fact]
    public void Unknown_boards_and_broken_profiles_get_clear_errors()
    {
        Assert.Contains("known boards", Assert.Throws<BoardProfileException>(() => BoardProfile.Load("esp8266", Dir)).Message);
        string json = File.ReadAllText(Path.Combine(Dir, "esp32-wroom-32.json"));
        string broken = json.Replace("\"sampleRateHz\": 1000", "\"sampleRateHz\": 5000").Replace("\"windowLength\": 512", "\"windowLength\": 500").Replace("\"scl\": 22", "\"scl\": 21");
        string message = Assert.Throws<BoardProfileException>(() => BoardProfile.Parse(broken, "esp32-wroom-32")).Message;
        Assert.Contains("sampleRateHz 5000", message);
        Assert.Contains("windowLength 500", message);
        Assert.Contains("pin 21 is used by both", message);
        Assert.Contains("must equal the file name", Assert.Throws<BoardProfileException>(() => BoardProfile.Parse(json, "esp32-s3")).Message);
        Assert.Contains("invalid JSON", Assert.Throws<BoardProfileException>(() => BoardProfile.Parse("{ \"name\": ", "x")).Message);
        Assert.Contains("invalid JSON", Assert.Throws<BoardProfileException>(() => BoardProfile.Parse(json.Replace("\"bands\"", "\"bandz\""), "esp32-wroom-32")).Message);
    }
}
