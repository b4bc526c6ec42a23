// A Java service calling PostgreSQL and MariaDB through their JDBC drivers from Debian
// (libpostgresql-jdbc-java, libmariadb-java), for tests/e2e/db_calls.test.mjs: a
// com.sun.net.httpserver server with a thread per request, one connection per database kept open.
// Usage: java -cp /usr/share/java/postgresql.jar:/usr/share/java/mariadb-java-client.jar JdbcApp
//        PG_PORT PG_DB MY_PORT MY_DB, with JDBC_SECRET in the environment
// GET /jdbc/N: a PreparedStatement on PostgreSQL (its driver switches to a named server-side
// statement after 5 uses, prepareThreshold), then a Statement with a literal and a
// PreparedStatement on MariaDB (whose driver by default sends both as text, the bound value
// written into the query). JDBC_SECRET is in a literal and a bound value: it must never leave the
// agent. pgjdbc would use TLS with a server that offers it (sslmode=prefer), and the plaintext of
// Java's own TLS is not read (docs/agent.md): the test asks for plaintext. Prints "port N" once
// listening.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.Executors;

public class JdbcApp {
  static Connection pg;
  static Connection my;
  static String secret;

  public static void main(String[] args) throws Exception {
    pg = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + args[0] + "/" + args[1] + "?user=postgres&sslmode=disable");
    my = DriverManager.getConnection("jdbc:mariadb://127.0.0.1:" + args[2] + "/" + args[3] + "?user=root");
    secret = System.getenv("JDBC_SECRET");
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.createContext("/jdbc/", JdbcApp::handle);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
    System.out.println("port " + server.getAddress().getPort());
  }

  // One request at a time per connection: JDBC connections are not shared between threads.
  static synchronized String calls(int id) throws SQLException {
    StringBuilder out = new StringBuilder();
    try (PreparedStatement s = pg.prepareStatement("SELECT name FROM customers WHERE id = ? AND name <> ?")) {
      s.setInt(1, id);
      s.setString(2, secret);
      try (ResultSet r = s.executeQuery()) {
        while (r.next()) out.append(r.getString(1));
      }
    }
    try (Statement s = my.createStatement();
         ResultSet r = s.executeQuery("SELECT name FROM customers WHERE name <> '" + secret + "' AND id = " + id)) {
      while (r.next()) out.append(',').append(r.getString(1));
    }
    try (PreparedStatement s = my.prepareStatement("SELECT id FROM customers WHERE name = ?")) {
      s.setString(1, secret);
      try (ResultSet r = s.executeQuery()) {
        while (r.next()) out.append(',').append(r.getInt(1));
      }
    }
    return out.toString();
  }

  static void handle(HttpExchange ex) throws IOException {
    int status = 200;
    String body;
    try {
      String path = ex.getRequestURI().getPath();
      body = calls(Integer.parseInt(path.substring(path.lastIndexOf('/') + 1)));
    } catch (Exception e) {
      status = 500;
      body = e.toString();
    }
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream o = ex.getResponseBody()) { o.write(bytes); }
  }
}
