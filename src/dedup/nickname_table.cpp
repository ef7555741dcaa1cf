#include "dedup/nickname_table.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace medmigrate::dedup {

namespace {

// One group per line: the formal name(s) first, then the nicknames.
constexpr std::string_view kGroups[] = {
    "william bill billy will willy willie liam wil",
    "robert bob bobby rob robbie robby bert rab",
    "richard rick ricky dick dickie rich richie",
    "james jim jimmy jamie jimmie jem",
    "john jack johnny jon jonny",
    "jonathan jon jonny jonathon nathan",
    "michael mike mikey mick mickey micky mich",
    "joseph joe joey jo jos",
    "thomas tom tommy thom",
    "christopher chris kit topher christoph",
    "christine christina chris chrissy tina kristine kristina",
    "daniel dan danny dani",
    "anthony tony ant antony",
    "edward ed eddie eddy ted teddy ned",
    "edwin ed eddie",
    "edmund ed eddie ned",
    "samuel sam sammy",
    "samantha sam sammy",
    "benjamin ben benny benji",
    "nicholas nick nicky nico nic",
    "alexander alex alec sandy xander lex",
    "alexandra alex alexa sandra sandy lexie",
    "andrew andy drew",
    "matthew matt matty",
    "david dave davey davy",
    "steven steve stevie stephen",
    "stephanie steph stephie",
    "charles charlie chuck chas chaz",
    "charlotte charlie lottie lotte",
    "henry harry hank hal",
    "harold harry hal",
    "francis frank frankie fran",
    "frances fran frankie fanny",
    "franklin frank",
    "frederick fred freddy freddie",
    "gregory greg",
    "jeffrey jeff",
    "geoffrey geoff jeff",
    "kenneth ken kenny",
    "lawrence larry laurie",
    "leonard leo len lenny",
    "patrick pat paddy patsy",
    "patricia pat patty trish tricia patsy",
    "peter pete",
    "raymond ray",
    "ronald ron ronnie",
    "donald don donnie",
    "douglas doug",
    "gerald gerry jerry",
    "timothy tim timmy",
    "vincent vince vinny",
    "walter walt wally",
    "zachary zach zack",
    "nathaniel nate nathan nat",
    "phillip phil pip philip",
    "elizabeth liz lizzy lizzie beth betty betsy eliza libby elisabeth lisa bess",
    "margaret maggie meg peggy marge margie greta madge",
    "katherine kate katie kathy kath kat kitty kay",
    "catherine cathy cath kate katie cat",
    "kathleen kathy kath kate",
    "jennifer jen jenny jenn",
    "susan sue susie suzy",
    "suzanne sue susie suzy",
    "rebecca becky becca",
    "victoria vicky vicki tori",
    "deborah debbie deb debra",
    "barbara barb barbie babs",
    "dorothy dot dottie dolly",
    "jessica jess jessie",
    "abigail abby abbie gail",
    "amanda mandy",
    "cynthia cindy",
    "jacqueline jackie jacqui",
    "josephine jo josie",
    "judith judy",
    "kimberly kim",
    "melissa mel missy",
    "pamela pam",
    "sarah sally sadie sara",
    "theresa terry tess tessa teresa",
    "valerie val",
    "veronica ronnie vera",
    "virginia ginny",
    "eleanor ellie nell nora",
    "helen nell nellie",
    "ann anne annie nan nancy",
    "anna annie",
    "caroline carol carrie",
    "emily em emmy",
    "florence flo",
    "gwendolyn gwen",
    "louise lou lulu",
    "lucille lucy",
    "madeline maddie maddy",
    "mary molly polly mae mamie",
    "matilda tilly mattie",
    "olivia liv livvy",
    "penelope penny",
    "prudence prue",
    "rosemary rosie rose",
    "ruth ruthie",
    "sophia sophie",
    "sophie soph",
    "wilhelmina mina billie",
    "albert al bert albie",
    "alfred alf alfie al fred",
    "arthur art artie",
    "bernard bernie",
    "bradley brad",
    "cameron cam",
    "clifford cliff",
    "cornelius neil",
    "dominic dom",
    "eugene gene",
    "gabriel gabe",
    "gordon gordie",
    "isaac ike",
    "jacob jake",
    "joshua josh",
    "leonardo leo",
    "maximilian max",
    "maxwell max",
    "mitchell mitch",
    "montgomery monty",
    "nigel nige",
    "oliver ollie",
    "randolph randy",
    "reginald reg reggie",
    "rodney rod",
    "roger rog",
    "russell russ",
    "sebastian seb",
    "stanley stan",
    "terence terry",
    "theodore ted teddy theo",
    "tobias toby",
    "wesley wes",
    "jose pepe",
};

struct Table {
  std::unordered_map<std::string, NicknameGroups> by_name;
  Table() {
    uint16_t group = 0;
    for (std::string_view line : kGroups) {
      ++group;
      size_t pos = 0;
      while (pos < line.size()) {
        size_t end = line.find(' ', pos);
        if (end == std::string_view::npos) end = line.size();
        NicknameGroups& g = by_name[std::string(line.substr(pos, end - pos))];
        for (uint16_t& slot : g) {
          if (slot == group) break;
          if (slot == 0) {
            slot = group;
            break;
          }
        }
        pos = end + 1;
      }
    }
  }
};

const Table& GetTable() {
  static const Table table;
  return table;
}

}  // namespace

NicknameGroups LookupNicknameGroups(std::string_view normalized) {
  const Table& t = GetTable();
  auto it = t.by_name.find(std::string(normalized));
  return it == t.by_name.end() ? NicknameGroups{} : it->second;
}

bool ShareNicknameGroup(const NicknameGroups& a, const NicknameGroups& b) {
  for (uint16_t x : a) {
    if (x == 0) break;
    for (uint16_t y : b) {
      if (y == 0) break;
      if (x == y) return true;
    }
  }
  return false;
}

}  // namespace medmigrate::dedup
