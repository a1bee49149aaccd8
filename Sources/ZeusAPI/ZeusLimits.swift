/// The numbers of the ZEUS `payment_return` interface.
public enum ZeusLimits {
    /// Content-Length and XML body, both: larger requests get 02030108 / 02030208.
    public static let maximumRequestBytes = 8192
    /// Answers are a few hundred bytes; anything past this is not the gateway talking.
    public static let maximumResponseBytes = 64 * 1024
    public static let orderNumberMaximumBytes = 50
    public static let clientIPDigits = 5...10
    public static let keyMaximumBytes = 40
    /// The production endpoint.
    public static let productionEndpoint = "https://linkpt.cardservice.co.jp/cgi-bin/secure/api.cgi"
    /// Send exactly this: the gateway compares the header (02030106).
    public static let contentType = "application/xml"
}
