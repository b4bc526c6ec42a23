#include "protocols/db_detect.h"

#include "protocols/kafka/match.h"
#include "protocols/mysql/match.h"
#include "protocols/postgres/match.h"
#include "protocols/postgres/parse.h"
#include "protocols/redis/match.h"

namespace hodos::protocols {

DbProtocol detect_db_client(Direction direction, std::string_view first_bytes) {
  if (direction == Direction::kIngress) {
    // Of these, only MySQL's server speaks first.
    return mysql::looks_like_mysql_server_greeting(first_bytes) ? DbProtocol::kMySql
                                                                : DbProtocol::kNone;
  }
  if (postgres::looks_like_postgres_client(first_bytes)) return DbProtocol::kPostgres;
  if (redis::looks_like_redis_client(first_bytes)) return DbProtocol::kRedis;
  if (mysql::looks_like_mysql_client(first_bytes)) return DbProtocol::kMySql;
  if (kafka::looks_like_kafka_client(first_bytes)) return DbProtocol::kKafka;
  return DbProtocol::kNone;
}

std::unique_ptr<DbMatcher> make_db_matcher(DbProtocol protocol, DbMatcher::Sink sink,
                                           const DbMatchOptions& options, bool from_start) {
  switch (protocol) {
    case DbProtocol::kPostgres:
      return postgres::make_postgres_matcher(std::move(sink), options);
    case DbProtocol::kMySql:
      return mysql::make_mysql_matcher(std::move(sink), options);
    case DbProtocol::kRedis:
      return redis::make_redis_matcher(
          std::move(sink), options,
          from_start ? redis::ConnectionStart::kFromStart : redis::ConnectionStart::kMidStream);
    case DbProtocol::kKafka:
      return kafka::make_kafka_matcher(std::move(sink), options, from_start);
    case DbProtocol::kNone:
      break;
  }
  return nullptr;
}

std::string_view db_system_name(DbProtocol protocol) {
  switch (protocol) {
    case DbProtocol::kPostgres: return "postgresql";
    case DbProtocol::kMySql: return "mysql";
    case DbProtocol::kRedis: return "redis";
    case DbProtocol::kKafka: return "kafka";
    case DbProtocol::kNone: break;
  }
  return "";
}

}  // namespace hodos::protocols
