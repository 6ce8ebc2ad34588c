#include "qsbr.hpp"
#include "reclaimer.hpp"

#include <catch2/catch.hpp>

using namespace routerd;

TEST_CASE("a retired object waits for every online reader", "[rcu]") {
  Qsbr q(2);
  q.register_reader(0);
  q.register_reader(1);
  q.online(0);
  q.online(1);
  Reclaimer r(q);
  int freed = 0;
  r.retire([&] { ++freed; });
  CHECK(r.poll() == 0);
  q.quiescent(0);
  CHECK(r.poll() == 0);  // reader 1 may still hold it
  q.quiescent(1);
  CHECK(r.poll() == 1);
  CHECK(freed == 1);
  CHECK(r.pending() == 0);
  q.offline(0);
  q.offline(1);
}

TEST_CASE("a stalled reader blocks reclamation; an offline one does not", "[rcu]") {
  Qsbr q(2);
  q.register_reader(0);
  q.register_reader(1);
  q.online(0);
  Reclaimer r(q);
  int freed = 0;
  r.retire([&] { ++freed; });
  r.retire([&] { ++freed; });
  for (int i = 0; i < 100; ++i) CHECK(r.poll() == 0);  // reader 0 stalled
  CHECK(freed == 0);
  q.quiescent(0);  // reader 1 was never online: it holds nothing
  CHECK(r.poll() == 2);
  CHECK(freed == 2);
  // Retired after the quiescent report: needs another one.
  r.retire([&] { ++freed; });
  CHECK(r.poll() == 0);
  q.offline(0);  // going offline also releases it
  CHECK(r.poll() == 1);
  CHECK(freed == 3);
}

TEST_CASE("drain runs everything once no reader is inside", "[rcu]") {
  Qsbr q(1);
  q.register_reader(0);
  Reclaimer r(q);
  int freed = 0;
  for (int i = 0; i < 10; ++i) r.retire([&] { ++freed; });
  r.drain();
  CHECK(freed == 10);
  CHECK(r.reclaimed() == 10);
}
