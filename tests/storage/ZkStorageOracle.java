// The oracle for tests/storage: Apache ZooKeeper's own storage code on our files (see zk_oracle.py).
import java.io.*;
import java.util.*;
import org.apache.jute.*;
import org.apache.zookeeper.server.*;
import org.apache.zookeeper.server.persistence.*;
import org.apache.zookeeper.server.quorum.QuorumPeer;

public class ZkStorageOracle {
    public static void main(String[] a) throws Exception {
        File d = new File(a[1]);
        switch (a[0]) {
            case "epoch-get": {
                QuorumPeer p = new QuorumPeer();
                p.setTxnFactory(new FileTxnSnapLog(d, d));
                try {
                    System.out.println(a[2].equals("currentEpoch") ? p.getCurrentEpoch() : p.getAcceptedEpoch());
                } catch (IOException e) {
                    System.out.println("ERROR " + e.getMessage());
                }
                break;
            }
            case "epoch-set": {
                QuorumPeer p = new QuorumPeer();
                p.setTxnFactory(new FileTxnSnapLog(d, d));
                long v = Long.parseLong(a[3]);
                if (a[2].equals("currentEpoch")) p.setCurrentEpoch(v); else p.setAcceptedEpoch(v);
                break;
            }
            case "truncate":
                System.out.println(new FileTxnSnapLog(d, d).truncateLog(Long.decode(a[2])));
                break;
            case "zxids": {
                FileTxnSnapLog snapLog = new FileTxnSnapLog(d, d);
                TxnLog.TxnIterator it = snapLog.readTxnLog(0);
                while (it.getHeader() != null) {
                    System.out.println(Long.toHexString(it.getHeader().getZxid()));
                    if (!it.next()) break;
                }
                it.close();
                System.out.println("last " + Long.toHexString(snapLog.getLastLoggedZxid()));
                break;
            }
            case "to-stream": {
                ZKDatabase db = new ZKDatabase(new FileTxnSnapLog(d, d));
                long zxid = db.loadDataBase();
                try (OutputStream out = new BufferedOutputStream(new FileOutputStream(a[2]))) {
                    BinaryOutputArchive oa = BinaryOutputArchive.getArchive(out);
                    db.serializeSnapshot(oa);
                    oa.writeString("BenWasHere", "signature");
                }
                System.out.println(Long.toHexString(zxid));
                break;
            }
            case "from-stream": {
                ZKDatabase db = new ZKDatabase(new FileTxnSnapLog(d, d));
                try (InputStream in = new BufferedInputStream(new FileInputStream(a[2]))) {
                    BinaryInputArchive ia = BinaryInputArchive.getArchive(in);
                    db.deserializeSnapshot(ia);
                    String sig = ia.readString("signature");
                    if (!sig.equals("BenWasHere")) throw new IOException("Missing signature");
                }
                long zxid = Long.decode(a[3]);
                db.setlastProcessedZxid(zxid);
                new FileTxnSnapLog(d, d).save(db.getDataTree(), db.getSessionWithTimeOuts(), true);
                System.out.println(db.getDataTree().getNodeCount() + " " + db.getSessionCount());
                break;
            }
            default:
                throw new IllegalArgumentException(a[0]);
        }
    }
}
