using System.Text;

namespace TinyMlops.Contracts;

/// <summary>Makes text a peer chose safe to log: at most a few dozen characters, control characters escaped.</summary>
public static class LogText
{
    /// <summary>
    /// <paramref name="text"/> cut to <paramref name="max"/> characters (with its full length said) and with every
    /// control character written as <c>\uXXXX</c>, so a hostile name can neither flood the log nor forge a line.
    /// </summary>
    public static string Safe(string? text, int max = 64)
    {
        if (text == null)
        {
            return "(none)";
        }

        var sb = new StringBuilder(System.Math.Min(text.Length, max) + 16);
        for (int i = 0; i < text.Length && i < max; i++)
        {
            char c = text[i];
            if (char.IsControl(c) || c is '\u2028' or '\u2029')
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        if (text.Length > max)
        {
            sb.Append("…(").Append(text.Length).Append(" chars)");
        }

        return sb.ToString();
    }
}
